# Settings: one versioned JSON file on flash (README, "Settings reference"), saved atomically
# with the previous file kept as a backup, and printed with every password as "***".
#
# Checking a file takes the schema's tables and code (mailer.schema), several KiB of a board's
# heap when loaded from .mpy. So save() checks once and stamps the file: its first key holds
# the CRC-32 of every byte after it. load() trusts a file whose stamp matches (nothing changed
# since it was checked) and imports the schema only for any other file (new, hand-edited,
# truncated). A stamp is no signature: it tells "written by save()" from "changed since".
import json
from binascii import crc32

from mailer.errors import SETTINGS, MailError
from mailer.flashfile import read_with_fallback, write_atomic

VERSION = 1
STAMP = "stamp"
_HEAD = b'{"stamp": "'  # then 8 hex digits, then _SEP, then the rest of the object
_SEP = b'", '


class Settings(dict):
    # load()'s result (and its groups): a dict whose text form shows "***" for passwords.
    # On MicroPython dict(s) and {}.update(s) refuse a dict subclass: copy with items().
    def __repr__(self):
        return repr(redacted(self))

    __str__ = __repr__


def _copy(d, hide, cls=dict):
    out = cls()
    for k, v in d.items():
        if isinstance(v, dict):
            v = _copy(v, hide, cls)
        elif hide and k == "password" and v:
            v = "***"
        out[k] = v
    return out


def redacted(d):
    """Plain-dict copy of d with every non-empty password as "***"."""
    return _copy(d, True)


def _stamped(data):
    # The stamp is valid: the bytes after it are exactly what save() wrote.
    n = len(_HEAD)
    return (data[:n] == _HEAD and data[n + 8:n + 11] == _SEP
            and data[n:n + 8] == b"%08x" % crc32(memoryview(data)[n + 11:]))


def check(raw):
    """raw (a settings file's content) checked and completed with the defaults, as a plain
    dict; MailError(#861, "key: problem") naming the first problem. Loads mailer.schema for
    the call only: its tables leave the heap with it."""
    import sys

    from mailer import schema

    try:
        d, bad = schema.build(raw)
    finally:
        import mailer

        del sys.modules["mailer.schema"]
        del mailer.schema
    if bad:
        raise MailError(SETTINGS, bad[0])
    return d


def _parse(data):
    d = json.loads(data)
    if not isinstance(d, dict):
        raise ValueError("not a JSON object")
    return d, _stamped(data)


def load(path="settings.json", backup=None, stamp=False):
    """Settings from path (or its backup, path + ".bak" by default, when path is missing or
    not JSON). A file save() wrote is taken as it is; any other is checked (MailError #861
    naming the first problem) and, with stamp=True (a board at boot), saved stamped so the
    next load is the cheap one."""
    backup = backup or path + ".bak"
    try:
        (raw, ok), _ = read_with_fallback(path, backup, _parse)
    except (OSError, ValueError) as e:
        raise MailError(SETTINGS, "%s: unreadable and no good backup (%s)" % (path, e)) from None
    raw.pop(STAMP, None)
    if not ok or raw.get("version") != VERSION:
        raw = check(raw)
        if stamp:
            save(raw, path, backup, checked=True)
    return _copy(raw, False, Settings)


def save(d, path="settings.json", backup=None, checked=False):
    """Check d (unless checked says it was) and replace path atomically with it, stamped; the
    previous file becomes the backup."""
    if not checked:
        d = check(_copy(d, False))
    body = json.dumps(_copy(d, False)).encode()
    write_atomic(path, [b'{"stamp": "%08x", ' % crc32(body[1:]), body[1:]], backup or path + ".bak")
