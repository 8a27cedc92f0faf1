# The settings schema (README, "Settings reference"): the defaults, and a check of every
# value by table. Only a settings file without a valid stamp (a new or hand-edited file) and the
# host tools import this module: a board that loads the file save() wrote never does (see
# mailer.settings). Every problem names its key; the caller turns the first into #861.
import json

from mailer.compat import alnum_or, const
from mailer.errors import MailError
from mailer.mime import check, mailbox
from mailer.settings import STAMP, VERSION

# Recipients per message, as mailer.mime bounds them (RFC 5321 4.5.3.1.8).
_MAX_RCPT = const(100)

DEFAULTS = {
    "version": VERSION,
    "incoming": {"host": "", "port": 110, "tls": "starttls", "user": "", "password": ""},
    "smtp": {
        "host": "",
        "port": 587,
        "tls": "required",
        "auth": "same_as_incoming",
        "user": "",
        "password": "",
        "mechanisms": ["CRAM-MD5", "PLAIN", "LOGIN"],
        "allow_plain_password": False,
        "verify": "ca",
        "ca_file": "ca.der",
        "pin_sha256": "",
        "timeout_s": 10,
        "deadline_s": None,
        "ehlo_name": "",
        # OAuth 2.0 (RFC 6749 6): the refresh grant that gives XOAUTH2/OAUTHBEARER their token.
        "oauth2": {
            "token_url": "",
            "client_id": "",
            "client_secret": "",
            "refresh_token": "",
            "scope": "",
            "ca_file": "",
        },
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
    "smtp.mechanisms": ("OAUTHBEARER", "XOAUTH2", "CRAM-MD5", "PLAIN", "LOGIN"),
    "smtp.oauth2.token_url": "https",
    "smtp.verify": ("ca", "pin", "off"),
    "smtp.pin_sha256": "sha256",
    "smtp.timeout_s": (1, 600),
    "smtp.deadline_s": (1, 3600),
    "smtp.ehlo_name": "ehlo",
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
        try:
            check(key, x)
        except MailError as e:
            bad.append(e.detail)
            continue
        if type(rule) is tuple and x not in rule:
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
        elif x and rule == "ehlo" and not _ehlo_ok(x):
            bad.append(key + ": must be a domain or an address literal ([192.0.2.1])")
        elif x and rule == "https" and not _https_ok(x):
            bad.append(key + ": must be https://host[:port]/path")
        elif rule == "name" and (not x or "/" in x or "\\" in x or ".." in x):
            bad.append(key + ": must be a file name under boards/ without .json")
    return list(v) if type(v) is list else v


def _https_ok(x):
    # What mailer.oauth2 can POST to: TLS always (the form carries the refresh token), a host,
    # an optional port, a path; no user info, no fragment.
    if x[:8] != "https://":
        return False
    hostport, slash, _ = x[8:].partition("/")
    host, colon, port = hostport.partition(":")
    if not slash or not host or "@" in hostport or "#" in x or " " in x:
        return False
    return not colon or port.isdigit() and 0 < int(port) < 65536


def _ehlo_ok(x):
    # RFC 5321 4.1.1.1 and 4.1.3: a domain (RFC 1035 2.3.1 labels) or an address literal.
    if x[:1] == "[" and x[-1:] == "]":
        x = x[1:-1]
        if x[:5] == "IPv6:":
            return len(x) > 7 and not x[5:].strip("0123456789abcdefABCDEF:.")
        parts = x.split(".")
        return len(parts) == 4 and all(p.isdigit() and len(p) < 4 and int(p) < 256 for p in parts)
    for label in x.split("."):
        if not 0 < len(label) < 64 or label[:1] == "-" or label[-1:] == "-" or not alnum_or(label.encode(), b"-"):
            return False
    return len(x) < 254


DEPTH = 8  # a settings file nests 3 deep (the file, a group, a list or smtp.oauth2)


def scan(data):
    """The problems a JSON parser hides in data (a settings file's bytes): every key that
    occurs twice in one object, as "key: duplicate key" (json keeps the last one silently, and
    a second "smtp" group could turn TLS off). ValueError when brackets nest deeper than DEPTH
    (the parser would run out of stack or heap). Run before parsing a file that is not stamped."""
    bad = []
    stack = []  # per open bracket: [key path of the object, keys seen] or None for a list
    key = False  # the next string is a key
    name = ""  # the last key read, the path of an object that opens next
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c == 0x22:  # '"': find the closing quote, not one escaped by a backslash
            j = i
            while True:
                j = data.find(b'"', j + 1)
                k = j
                while j > 0 and data[k - 1] == 0x5C:
                    k -= 1
                if (j - k) % 2 == 0:
                    break
            if j < 0:
                raise ValueError("unterminated string")
            if key and stack[-1] is not None:
                top = stack[-1]
                name = top[0] + json.loads(data[i : j + 1])
                if name in top[1]:
                    bad.append(name + ": duplicate key")
                top[1].append(name)
                key = False
            i = j
        elif c in b"{[":
            if len(stack) >= DEPTH:
                raise ValueError("nested deeper than %d" % DEPTH)
            stack.append([name + "." if stack else "", []] if c == 0x7B else None)
            key = c == 0x7B
        elif c in b"}]":
            stack and stack.pop()
        elif c == 0x2C:  # ","
            key = bool(stack) and stack[-1] is not None
        i += 1
    return bad


def parse(data):
    """(content, problems): a settings file's bytes (not stamped) scanned, then parsed;
    ValueError when they are not a JSON object or nest too deep."""
    bad = scan(data)
    d = json.loads(data)
    if not isinstance(d, dict):
        raise ValueError("not a JSON object")
    return d, bad


def _group(name, v, default, bad):
    # A group (or smtp.oauth2 inside smtp) over its defaults, every value checked.
    if not isinstance(v, dict):
        bad.append(name + ": must be an object")
        v = {}
    for kk in sorted(v):
        if kk not in default:
            bad.append("%s.%s: unknown key" % (name, kk))
    g = {}
    for kk in sorted(default):
        d = default[kk]
        vv = v.get(kk, d)
        g[kk] = _group(name + "." + kk, vv, d, bad) if type(d) is dict else _check(name + "." + kk, vv, d, bad)
    return g


def _oauth(smtp, bad):
    # XOAUTH2/OAUTHBEARER log in as smtp.user with a token from the smtp.oauth2 group.
    oauth = [m for m in smtp["mechanisms"] if m in ("OAUTHBEARER", "XOAUTH2")]
    if not oauth:
        return
    why = " (needed when smtp.mechanisms lists %s)" % oauth[0]
    if smtp["auth"] != "log_on_using":
        bad.append('smtp.auth: must be "log_on_using"' + why)
    elif not smtp["user"]:
        bad.append("smtp.user: missing" + why)
    for k in ("token_url", "client_id", "refresh_token"):
        if not smtp["oauth2"][k]:
            bad.append("smtp.oauth2.%s: missing%s" % (k, why))


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
        out[k] = _group(k, v, default, bad)
    for when, value, key in _NEEDS:
        if (value is None or _get(out, when) == value) and not _get(out, key):
            bad.append(key + ": missing" + (" (needed when %s is %s)" % (when, value) if value else ""))
    smtp = out["smtp"]
    _oauth(smtp, bad)
    if smtp["auth"] != "log_on_using":
        # Ignored otherwise: no AUTH would go out, and the server's refusal would point nowhere.
        for k in ("user", "password"):
            if smtp[k]:
                bad.append(
                    'smtp.%s: set, but smtp.auth is "%s": set "auth": "log_on_using" to log in '
                    "with it" % (k, smtp["auth"])
                )
    if len(out["mail"]["to"]) > _MAX_RCPT:
        bad.append("mail.to: too many recipients (at most %d)" % _MAX_RCPT)
    if out["outbox"]["retry_max_s"] < out["outbox"]["retry_base_s"]:
        bad.append("outbox.retry_max_s: must not be less than outbox.retry_base_s")
    return out, bad


def problems(d):
    """Every problem of d (a settings file's content) as "key: what", or []."""
    return build(d)[1]
