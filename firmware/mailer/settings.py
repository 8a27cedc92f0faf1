# Settings: one versioned JSON file on flash (README, "Settings reference"), saved atomically
# with the previous file kept as a backup, and printed with every secret (passwords, the OAuth
# client secret and refresh token) as "***".
#
# save() checks a file once and stamps it; load() takes a stamped file as it is and checks any
# other (mailer.settingsfile says how). What stays on a board's heap is this module: the code
# that checks and writes the file, and reads any other than a stamped one (a backup, an
# unstamped or changed file), is mailer.settingsfile, loaded for each call and unloaded after it
# (32-bit: 1.3 KiB less on the heap of a send). A board's every boot and send reads a stamped
# file, so that reading is here: without the modules behind it, none of their names is
# interned (27 of them, permanently on the heap). What load() returns does not need this module
# either (its class, Settings, is the package's): a program that loads its settings with
# compat.once("settings", "load", ...), as the board's app does, keeps none of this code on the
# heap while it sends (32-bit: one message needs 1.75 KiB less heap).
import json
import os
from binascii import crc32

from mailer import Settings
from mailer.compat import const, once

VERSION = 1
STAMP = "stamp"
_MAX = const(16384)  # a larger file is not read (mailer.settingsfile says why)
_HEAD = const(b'{"stamp": "')  # then 8 hex digits, then _SEP, then the rest of the object
_SEP = const(b'", ')
# The keys and values of a settings file that the send path reads by name (mailer.resolve, the
# session, the transport), named here: loading this module interns them, and json.loads then
# gives each such key or value as that name, not as a string of its own, for as long as the
# settings are held (32-bit: 2160 bytes for a bench board's settings, not 2480). The send
# interns them anyway. A list: a tuple constant's strings would load as strings, not as names.
["timeout_s", "deadline_s", "ca_file", "pin_sha256", "verify", "incoming", "ca", "required", "starttls"]  # noqa: B018


def stamped(data):
    """Whether data (a settings file's bytes) has a valid stamp: the bytes after it are
    exactly what save() wrote."""
    n = len(_HEAD)
    return (
        data[:n] == _HEAD
        and data[n + 8 : n + 11] == _SEP
        and data[n : n + 8] == b"%08x" % crc32(memoryview(data)[n + 11 :])
    )


def wrap(data):
    """data (parsed JSON) as Settings, its groups too."""
    out = Settings()
    for k, v in data.items():
        out[k] = wrap(v) if isinstance(v, dict) else v
    return out


def _file(name, *args, **kw):
    # mailer.settingsfile's name(*args, **kw), the module loaded for the call only, into a heap
    # swept clean: the file is read in one piece, and without the sweep that piece found no hole.
    import gc

    gc.collect()
    return once("settingsfile", name, *args, **kw)


def load(path="settings.json", backup=None, stamp=False):
    """Settings from path (or its backup, path + ".bak" by default, when path is missing, not
    JSON, larger than 16 KiB or nested too deep). A file save() wrote is taken as it is; any
    other is checked (MailError #861 naming the first problem) and, with stamp=True (a board
    at boot), saved stamped so the next load is the cheap one."""
    try:
        size = os.stat(path)[6]
        if size <= _MAX:
            with open(path, "rb") as f:
                data = f.read(size)  # in one piece, not a buffer grown as it fills
            if stamped(data):
                raw = json.loads(data)
                if raw.get("version") == VERSION:
                    raw.pop(STAMP)
                    return wrap(raw)
    except (OSError, ValueError):
        pass  # missing, unreadable or not JSON: the backup, and the reasons, are settingsfile's
    return _file("load", path, backup, stamp)


# The three below take their arguments as given, for mailer.settingsfile's functions of the same
# name: each parameter name of a function is interned on a board's heap for good, and these would
# add four names that nothing else has.
def save(*args, **kw):
    """save(d, path="settings.json", backup=None, checked=False): check d (unless checked says it
    was) and replace path atomically with it, stamped; the previous file becomes the backup."""
    return _file("save", *args, **kw)


def check(*args):
    """check(raw, bad=()): raw (a settings file's content) checked and completed with the
    defaults, as a plain dict; MailError(#861, "key: problem") naming the first problem (of bad,
    the problems found in the file's bytes, first)."""
    return _file("check", *args)


def redacted(*args):
    """redacted(d): a plain-dict copy of settings d with every non-empty secret (password,
    client_secret, refresh_token) as "***"."""
    return _file("redacted", *args)
