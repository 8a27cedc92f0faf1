# Settings: one versioned JSON file on flash (README, "Settings reference"), saved atomically
# with the previous file kept as a backup, and printed with every secret (passwords, the OAuth
# client secret and refresh token) as "***".
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

from mailer.compat import const, unload
from mailer.errors import SETTINGS, MailError

VERSION = 1
_MAX = const(16384)
STAMP = "stamp"
_HEAD = b'{"stamp": "'  # then 8 hex digits, then _SEP, then the rest of the object
_SEP = b'", '
# The keys whose values are secrets, in every group: shown as "***" when set.
_SECRETS = ("password", "client_secret", "refresh_token")


class Settings(dict):
    # load()'s result (and its groups): a dict whose text form shows "***" for secrets.
    # On MicroPython dict(s) and {}.update(s) refuse a dict subclass: copy with items().
    def __repr__(self):
        return repr(redacted(self))

    __str__ = __repr__


def _copy(d, hide, cls=dict):
    out = cls()
    for k, v in d.items():
        if isinstance(v, dict):
            v = _copy(v, hide, cls)
        elif hide and k in _SECRETS and v:
            v = "***"
        out[k] = v
    return out


def redacted(d):
    """Plain-dict copy of d with every non-empty secret (password, client_secret,
    refresh_token) as "***"."""
    return _copy(d, True)


def _stamped(data):
    # The stamp is valid: the bytes after it are exactly what save() wrote.
    n = len(_HEAD)
    return (
        data[:n] == _HEAD
        and data[n + 8 : n + 11] == _SEP
        and data[n : n + 8] == b"%08x" % crc32(memoryview(data)[n + 11 :])
    )


def _schema(fn, arg):
    # mailer.schema's fn(arg), with the module loaded for the call only: its tables leave the
    # heap with it (and so does mailer.mime, which it uses).
    from mailer import schema

    try:
        return getattr(schema, fn)(arg)
    finally:
        unload("schema")
        unload("mime")


def _flash(fn, *args, **kw):
    # mailer.flashfile's fn(...), the module loaded for the call only unless another importer
    # (the outbox) has it: a board that only sends does not keep it on its heap.
    import sys

    keep = "mailer.flashfile" in sys.modules
    from mailer import flashfile

    try:
        return getattr(flashfile, fn)(*args, **kw)
    finally:
        if not keep:
            unload("flashfile")


def check(raw, bad=()):
    """raw (a settings file's content) checked and completed with the defaults, as a plain
    dict; MailError(#861, "key: problem") naming the first problem (of bad, the problems
    found in the file's bytes, first)."""
    d, more = _schema("build", raw)
    bad = list(bad) + more
    if bad:
        raise MailError(SETTINGS, bad[0])
    return d


def _parse(data):
    # (content, None) for a stamped file, else schema.parse: (content, problems in the bytes).
    return (json.loads(data), None) if _stamped(data) else _schema("parse", data)


def _fits(path):
    try:
        return os.stat(path)[6] <= _MAX
    except OSError:
        return True  # missing: reading it says so (ENOENT)


def load(path="settings.json", backup=None, stamp=False):
    """Settings from path (or its backup, path + ".bak" by default, when path is missing, not
    JSON, larger than 16 KiB or nested too deep). A file save() wrote is taken as it is; any
    other is checked (MailError #861 naming the first problem) and, with stamp=True (a board
    at boot), saved stamped so the next load is the cheap one."""
    backup = backup or path + ".bak"
    names = [p for p in (path, backup) if _fits(p)]
    try:
        if not names:
            raise ValueError("larger than %d bytes" % _MAX)
        (raw, bad), _ = _flash("read_with_fallback", *names, parse=_parse)
    except (OSError, ValueError) as e:
        raise MailError(SETTINGS, "%s: unreadable and no good backup (%s)" % (path, e)) from None
    raw.pop(STAMP, None)
    if bad is not None or raw.get("version") != VERSION:
        raw = check(raw, bad or ())
        if stamp:
            save(raw, path, backup, checked=True)
    return _copy(raw, False, Settings)


def save(d, path="settings.json", backup=None, checked=False):
    """Check d (unless checked says it was) and replace path atomically with it, stamped; the
    previous file becomes the backup."""
    if not checked:
        d = check(_copy(d, False))
    body = json.dumps(_copy(d, False)).encode()
    _flash("write_atomic", path, [b'{"stamp": "%08x", ' % crc32(body[1:]), body[1:]], backup or path + ".bak")
