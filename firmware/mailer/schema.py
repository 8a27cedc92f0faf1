# The settings schema (README, "Settings reference"): the defaults, and a check of every
# value by table. Only a settings file without a valid stamp (a new or hand-edited file) and the
# host tools import this module: a board that loads the file save() wrote never does (see
# mailer.settings). Every problem names its key; the caller turns the first into #861.
from mailer.errors import MailError
from mailer.message import mailbox
from mailer.settings import STAMP, VERSION

DEFAULTS = {
    "version": VERSION,
    "incoming": {"host": "", "port": 110, "tls": "starttls", "user": "", "password": ""},
    "smtp": {
        "host": "", "port": 587, "tls": "required", "auth": "same_as_incoming",
        "user": "", "password": "", "mechanisms": ["CRAM-MD5", "PLAIN", "LOGIN"],
        "allow_plain_password": False, "verify": "ca", "ca_file": "ca.der", "pin_sha256": "",
        "timeout_s": 10, "deadline_s": None, "ehlo_name": "",
    },
    "mail": {"from": "", "to": [], "subject_prefix": ""},
    "wifi": {"ssid": "", "password": ""},
    "clock": {"ntp_host": "pool.ntp.org"},
    "outbox": {"max_messages": 20, "max_bytes": 65536, "retry_base_s": 30, "retry_max_s": 3600},
    "board": "unix",
}

# Value rules beyond the type of the default: (lo, hi) integer range, a tuple of allowed
# strings (for a list: of its items), or a named check. A None default means "null or the rule".
_RULES = {
    "incoming.port": (1, 65535),
    "incoming.tls": ("off", "starttls", "implicit"),
    "smtp.port": (1, 65535),
    "smtp.tls": ("required", "opportunistic", "off", "implicit"),
    "smtp.auth": ("same_as_incoming", "log_on_using", "pop_before_smtp", "none"),
    "smtp.mechanisms": ("CRAM-MD5", "PLAIN", "LOGIN"),
    "smtp.verify": ("ca", "pin", "off"),
    "smtp.pin_sha256": "sha256",
    "smtp.timeout_s": (1, 600),
    "smtp.deadline_s": (1, 3600),
    "mail.from": "address",
    "mail.to": "address",
    "outbox.max_messages": (1, 1000),
    "outbox.max_bytes": (1024, 16777216),
    "outbox.retry_base_s": (1, 86400),
    "outbox.retry_max_s": (1, 604800),
    "board": "name",
}

# (key, value that makes it needed, needed key): a None value means always needed.
_NEEDS = (
    ("smtp.host", None, "smtp.host"),
    ("mail.from", None, "mail.from"),
    ("smtp.mechanisms", None, "smtp.mechanisms"),
    ("smtp.auth", "log_on_using", "smtp.user"),
    ("smtp.auth", "pop_before_smtp", "incoming.host"),
    ("smtp.auth", "pop_before_smtp", "incoming.user"),
    ("smtp.verify", "ca", "smtp.ca_file"),
    ("smtp.verify", "pin", "smtp.pin_sha256"),
)

_TYPES = {str: "a string", bool: "true or false", int: "an integer", list: "a list of strings"}


def _get(d, key):
    group, _, k = key.partition(".")
    return d[group][k] if k else d[group]


def _check(key, v, default, bad):
    # The value to keep (the default when v is bad); appends "key: problem" to bad.
    rule = _RULES.get(key)
    if v is None and default is None:
        return None
    if type(rule) is tuple and type(rule[0]) is int:
        if type(v) is not int or not rule[0] <= v <= rule[1]:
            bad.append("%s: must be an integer %d..%d" % (key, rule[0], rule[1]))
            return default
        return v
    if type(v) is not type(default) or type(v) is list and any(type(x) is not str for x in v):
        bad.append("%s: must be %s" % (key, _TYPES[type(default)]))
        return default
    for x in v if type(v) is list else (v,):
        if type(x) is not str:
            continue
        if "\r" in x or "\n" in x or "\0" in x:
            bad.append(key + ": CR/LF/NUL not allowed")
        elif type(rule) is tuple and x not in rule:
            bad.append("%s: must be one of %s, not %s" % (key, ", ".join(rule), x))
        elif x and rule == "address":
            try:
                mailbox(key, x)
            except MailError as e:
                bad.append(e.detail)
        elif x and rule == "sha256":
            h = x.replace(":", "")
            if len(h) != 64 or h.strip("0123456789abcdefABCDEF"):
                bad.append(key + ": must be 64 hex digits (SHA-256 of the certificate)")
        elif rule == "name" and (not x or "/" in x or "\\" in x or ".." in x):
            bad.append(key + ": must be a file name under boards/ without .json")
    return list(v) if type(v) is list else v


def build(raw):
    """(settings, [problems]): raw (a settings file's content) over DEFAULTS, every value
    checked; problems are "key: what", in the same order on every port."""
    bad = []
    out = {}
    if not isinstance(raw, dict):
        return out, ["settings: must be a JSON object"]
    # Only version 1 exists. A later version adds a migration module, imported here only when
    # a file's version is older than VERSION, so that a current file never loads it.
    if raw.get("version", VERSION) != VERSION:
        return out, ["version: must be %d" % VERSION]
    # Sorted, so that problems come in the same order on every port (dict order differs).
    for k in sorted(raw):
        if k not in DEFAULTS and k != STAMP:
            bad.append(k + ": unknown key")
    for k in sorted(DEFAULTS):
        default = DEFAULTS[k]
        v = raw.get(k, default)
        if type(default) is not dict:
            out[k] = _check(k, v, default, bad)
            continue
        if not isinstance(v, dict):
            bad.append(k + ": must be an object")
            v = {}
        for kk in sorted(v):
            if kk not in default:
                bad.append("%s.%s: unknown key" % (k, kk))
        g = out[k] = {}
        for kk in sorted(default):
            g[kk] = _check(k + "." + kk, v.get(kk, default[kk]), default[kk], bad)
    for when, value, key in _NEEDS:
        if (value is None or _get(out, when) == value) and not _get(out, key):
            bad.append(key + ": missing" + (" (needed when %s is %s)" % (when, value) if value else ""))
    if out["outbox"]["retry_max_s"] < out["outbox"]["retry_base_s"]:
        bad.append("outbox.retry_max_s: must not be less than outbox.retry_base_s")
    return out, bad


def problems(d):
    """Every problem of d (a settings file's content) as "key: what", or []."""
    return build(d)[1]


