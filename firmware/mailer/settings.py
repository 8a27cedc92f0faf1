# Settings: one versioned JSON file on flash (README, "Settings reference"), read over the
# defaults below, validated by table, saved atomically with the previous file kept as a backup.
# Every problem names its key and maps to #861; nothing is sent with invalid settings.
import json

from mailer.errors import SETTINGS, MailError
from mailer.flashfile import read_with_fallback, write_atomic
from mailer.message import mailbox

VERSION = 1

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


def _v0_to_1(old):
    # Version 0 (made up for the mechanism, and tested): no "version", flat keys, SSL as a
    # yes/no switch. Its implied values are written out, so an upgraded device behaves as
    # before: port 25, "allow SSL" off, no certificate check (it had no CA). A file with no
    # "version" and none of these keys is taken as it is.
    new = {"smtp": {"port": 25, "tls": "off", "verify": "off"}} if any(k in _V0 for k in old) else {}
    for k, v in old.items():
        if k in _V0:
            group, _, key = _V0[k].partition(".")
            new.setdefault(group, {})[key] = _V0_VALUES[k](v) if k in _V0_VALUES else v
        elif k != "version":
            new[k] = v  # unknown to version 0 too: validation reports it
    new["version"] = 1
    return new


_V0 = {  # version 0 key -> version 1 key
    "smtp_server": "smtp.host", "smtp_port": "smtp.port", "smtp_user": "smtp.user",
    "smtp_password": "smtp.password", "use_ssl": "smtp.tls", "smtp_login": "smtp.auth",
    "pop_server": "incoming.host", "pop_port": "incoming.port", "pop_user": "incoming.user",
    "pop_password": "incoming.password", "sender": "mail.from", "recipients": "mail.to",
    "wifi_ssid": "wifi.ssid", "wifi_password": "wifi.password",
}
_V0_VALUES = {  # values that changed form; anything else passes on to validation
    "use_ssl": lambda v: "opportunistic" if v is True else "off" if v is False else v,
    "smtp_login": lambda v: {"pop": "same_as_incoming", "own": "log_on_using"}.get(v, v) if type(v) is str else v,
    "recipients": lambda v: [a.strip() for a in v.split(",") if a.strip()] if type(v) is str else v,
}
_MIGRATIONS = (_v0_to_1,)  # _MIGRATIONS[n] turns version n into version n + 1


class Settings(dict):
    # load()'s result (and its groups): a dict whose text form shows "***" for passwords.
    # On MicroPython dict(s) and {}.update(s) refuse a dict subclass: copy with items().
    def __repr__(self):
        return repr(redacted(self))

    __str__ = __repr__


def _copy(d, hide):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            v = _copy(v, hide)
        elif hide and k == "password" and v:
            v = "***"
        out[k] = v
    return out


def redacted(d):
    """Plain-dict copy of d with every non-empty password as "***"."""
    return _copy(d, True)


def dumps_redacted(d):
    return json.dumps(redacted(d))


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


def _build(raw):
    # (Settings, [problems]): raw (a file's content, any version) over DEFAULTS.
    bad = []
    out = Settings()
    if not isinstance(raw, dict):
        return out, ["settings: must be a JSON object"]
    v = raw.get("version", 0)
    if type(v) is not int or not 0 <= v <= VERSION:
        return out, ["version: must be an integer 0..%d" % VERSION]
    while v < VERSION:
        raw = _MIGRATIONS[v](raw)
        v += 1
    # Sorted, so that problems come in the same order on every port (dict order differs).
    for k in sorted(raw):
        if k not in DEFAULTS:
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
        g = out[k] = Settings()
        for kk in sorted(default):
            g[kk] = _check(k + "." + kk, v.get(kk, default[kk]), default[kk], bad)
    for when, value, key in _NEEDS:
        if (value is None or _get(out, when) == value) and not _get(out, key):
            bad.append(key + ": missing" + (" (needed when %s is %s)" % (when, value) if value else ""))
    if out["outbox"]["retry_max_s"] < out["outbox"]["retry_base_s"]:
        bad.append("outbox.retry_max_s: must not be less than outbox.retry_base_s")
    return out, bad


def problems(d):
    """Every problem of d (a settings file's content, any version) as "key: what", or []."""
    return _build(d)[1]


def _parse(data):
    d = json.loads(data)
    if not isinstance(d, dict):
        raise ValueError("not a JSON object")
    return d


# The file the last load() used: its path, or the backup's when the main file was missing,
# truncated or not JSON (main.py shows that; a save() puts a good main file back).
loaded_from = None


def load(path="settings.json", backup=None):
    """Settings from path (or its backup, path + ".bak" by default), upgraded to VERSION and
    validated. Raises MailError(#861, "key: problem") naming the first problem."""
    global loaded_from
    backup = backup or path + ".bak"
    try:
        raw, used_backup = read_with_fallback(path, backup, _parse)
    except (OSError, ValueError) as e:
        raise MailError(SETTINGS, "%s: unreadable and no good backup (%s)" % (path, e)) from None
    loaded_from = backup if used_backup else path
    d, bad = _build(raw)
    if bad:
        raise MailError(SETTINGS, bad[0])
    return d


def save(d, path="settings.json", backup=None):
    """Validate d and replace path atomically; the previous file becomes the backup."""
    d, bad = _build(_copy(d, False))
    if bad:
        raise MailError(SETTINGS, bad[0])
    write_atomic(path, json.dumps(_copy(d, False)).encode(), backup or path + ".bak")


def credentials(d):
    """(user, password) for SMTP AUTH as smtp.auth says, or (None, None) for no AUTH."""
    auth = d["smtp"]["auth"]
    g = d["incoming"] if auth == "same_as_incoming" else d["smtp"] if auth == "log_on_using" else None
    if not g or not g["user"]:
        return None, None
    return g["user"], g["password"]


def deadline_s(d):
    """The whole send's deadline: smtp.deadline_s, or three times smtp.timeout_s when null."""
    return d["smtp"]["deadline_s"] or 3 * d["smtp"]["timeout_s"]
