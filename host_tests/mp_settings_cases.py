# Runs on CPython AND on the MicroPython Unix port (host_tests/test_settings.py compares the
# two): settings validation (mailer.schema), redaction and what mailer.client.Client resolves
# from them (account, deadline) for a set of inputs, one JSON line per case. A good case is
# also saved to and loaded from argv[1] (a file path): load()'s result must hide the passwords.
import json
import sys

from mailer import schema, settings
from mailer.client import Client

GOOD = {
    "version": 1,
    "smtp": {
        "host": "smtp.example.com",
        "auth": "log_on_using",
        "user": "smtp-user",
        "password": "smtp-pw",
        "verify": "off",
    },
    "mail": {"from": "Board <board@example.com>"},
    "incoming": {"user": "pop-user", "password": "pop-pw"},
}

CASES = [
    GOOD,
    {},
    [],
    {"version": 7},
    {
        "version": 1,
        "smtp": {"host": "h", "port": 65536, "tls": "maybe", "auth": 3, "x": 1},
        "mail": {"from": "not an address", "to": ["a@b.example", "c\r\nRCPT TO:<x@y>"]},
        "extra": None,
    },
    {
        "smtp": {"host": "h", "auth": "log_on_using", "verify": "pin", "pin_sha256": "zz", "mechanisms": []},
        "mail": {"from": "a@b.example"},
        "outbox": {"retry_base_s": 99, "retry_max_s": 10},
    },
    {
        "smtp": {"host": "h", "auth": "log_on_using", "user": "u", "password": "p", "verify": "off", "deadline_s": 45},
        "mail": {"from": "a@b.example"},
    },
    {"version": 0, "smtp_server": "mail.example.com", "sender": "a@b.example", "colour": "red"},
    {"smtp_server": "mail.example.com", "sender": "a@b.example"},  # the old flat layout
]


def _text(b):
    return None if b is None else b.decode()


for raw in CASES:
    d, bad = schema.build(raw)
    out = {"problems": bad}
    if not bad:
        c = Client(d)
        settings.save(raw, sys.argv[1])
        loaded = settings.load(sys.argv[1])
        out["settings"] = settings.redacted(d)
        out["same_after_load"] = loaded == d
        out["credentials"] = [_text(c.user), _text(c.password)]
        out["deadline_ms"] = c.deadline_ms
        out["secret_shown"] = [s for s in ("smtp-pw", "pop-pw") if s in str(loaded) + repr(loaded["smtp"])]
    print(json.dumps(out))
