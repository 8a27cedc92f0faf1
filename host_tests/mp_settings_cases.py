# Runs on CPython AND on the MicroPython Unix port (host_tests/test_settings.py compares the
# two): settings validation, migration, redaction and credentials for a set of inputs, one
# JSON line per case.
import json

from mailer import settings

GOOD = {"version": 1, "smtp": {"host": "smtp.example.com", "password": "smtp-pw"},
        "mail": {"from": "Board <board@example.com>"},
        "incoming": {"user": "pop-user", "password": "pop-pw"}}

CASES = [
    GOOD,
    {},
    [],
    {"version": 7},
    {"version": 1, "smtp": {"host": "h", "port": 65536, "tls": "maybe", "auth": 3, "x": 1},
     "mail": {"from": "not an address", "to": ["a@b.example", "c\r\nRCPT TO:<x@y>"]}, "extra": None},
    {"smtp": {"host": "h", "auth": "log_on_using", "verify": "pin", "pin_sha256": "zz",
              "mechanisms": []}, "mail": {"from": "a@b.example"}, "outbox": {"retry_base_s": 99, "retry_max_s": 10}},
    {"smtp_server": "mail.example.com", "use_ssl": True, "smtp_login": "own", "smtp_user": "u",
     "smtp_password": "p", "sender": "a@b.example", "recipients": "x@y.example, z@y.example", "wifi_ssid": "w"},
    {"version": 0, "smtp_server": "mail.example.com", "sender": "a@b.example", "colour": "red"},
]

for raw in CASES:
    d, bad = settings._build(raw)
    out = {"problems": bad}
    if not bad:
        out["settings"] = settings.redacted(d)
        out["credentials"] = settings.credentials(d)
        out["deadline_s"] = settings.deadline_s(d)
        out["secret_shown"] = [s for s in ("smtp-pw", "pop-pw") if s in str(d) + repr(d["smtp"])]
    print(json.dumps(out))
