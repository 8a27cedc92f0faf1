# The work behind mailer.settings (load, save, check, redacted), loaded for each call and
# unloaded after it: a board that only sends keeps none of this code between its loads.
#
# Checking a file takes the schema's tables and code (mailer.schema), several KiB of a board's
# heap when loaded from .mpy. So save() checks once and stamps the file: its first key holds
# the CRC-32 of every byte after it. load() trusts a file whose stamp matches (nothing changed
# since it was checked) and imports the schema only for any other file (new, hand-edited,
# truncated). A stamp is no signature: it tells "written by save()" from "changed since".
# A file larger than 16 KiB is not read, and one not stamped is parsed by schema.parse, which
# first scans it for nesting too deep and duplicate keys: no file ends in a MemoryError.
import json
import os
from binascii import crc32

from mailer.compat import const, once, unload
from mailer.errors import MailError
from mailer.settings import STAMP, VERSION, stamped, wrap

# Device error codes (mailer.codes; README, "Device error codes").
_SETTINGS = const(861)  # settings invalid / bad input

_MAX = const(16384)
# The keys whose values are secrets, in every group: shown as "***" when set.
_SECRETS = const(("password", "client_secret", "refresh_token"))


def _copy(d, hide):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            v = _copy(v, hide)
        elif hide and k in _SECRETS and v:
            v = "***"
        out[k] = v
    return out


def redacted(d):
    # mailer.settings.redacted()
    return _copy(d, True)


def _schema(fn, arg):
    # mailer.schema's fn(arg), the module loaded for the call only: its tables leave the heap
    # with it, and so does mailer.mime, which it uses.
    try:
        return once("schema", fn, arg)
    finally:
        unload("mime")


def check(raw, bad=()):
    # mailer.settings.check()
    d, more = _schema("build", raw)
    bad = list(bad) + more
    if bad:
        raise MailError(_SETTINGS, bad[0])
    return d


def _parse(data):
    # (content, None) for a stamped file, else schema.parse: (content, problems in the bytes).
    return (json.loads(data), None) if stamped(data) else _schema("parse", data)


def _fits(path):
    try:
        return os.stat(path)[6] <= _MAX
    except OSError:
        return True  # missing: reading it says so (ENOENT)


def load(path="settings.json", backup=None, stamp=False):
    # mailer.settings.load()
    backup = backup or path + ".bak"
    names = [p for p in (path, backup) if _fits(p)]
    try:
        if not names:
            raise ValueError("larger than %d bytes" % _MAX)
        (raw, bad), _ = once("flashfile", "read_with_fallback", *names, parse=_parse)
    except (OSError, ValueError) as e:
        raise MailError(_SETTINGS, "%s: unreadable and no good backup (%s)" % (path, e)) from None
    raw.pop(STAMP, None)
    if bad is not None or raw.get("version") != VERSION:
        raw = check(raw, bad or ())
        if stamp:
            save(raw, path, backup, checked=True)
    return wrap(raw)


def save(d, path="settings.json", backup=None, checked=False):
    # mailer.settings.save()
    if not checked:
        d = check(_copy(d, False))
    body = json.dumps(_copy(d, False)).encode()
    # mailer.flashfile for the call only, unless the outbox has it: a board that only sends
    # does not keep it on its heap.
    parts = [b'{"stamp": "%08x", ' % crc32(body[1:]), body[1:]]
    once("flashfile", "write_atomic", path, parts, backup or path + ".bak")
