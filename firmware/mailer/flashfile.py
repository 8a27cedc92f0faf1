# Files on flash that survive a power cut at any moment (the settings and the outbox), and the
# small file helpers both use.
#
# The new content goes to path + ".tmp" first and is flushed (in MicroPython, flush is what
# pushes data to flash) before any name changes. Then the old file is renamed to the backup
# name and the temporary file to the real name. No rename ever lands on an existing file:
# LittleFS renames atomically either way, but MicroPython's FAT rename over an existing file
# removes the target first, and a cut between the two steps would lose it. After a cut at any
# point one of old/new is complete under `path` or under `backup`:
#   writing tmp      -> path = old
#   backup removed   -> path = old
#   path -> backup   -> path missing, backup = old (read_with_fallback takes it)
#   tmp -> path      -> path = new, backup = old
# Without a backup the last rename lands on `path` (atomic on LittleFS and POSIX; on FAT a cut
# inside that rename can leave only path + ".tmp").
import os


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def make_dir(path):
    """os.mkdir, quietly when the folder is there already."""
    try:
        os.mkdir(path)
    except OSError:
        pass  # already there


def remove(path):
    """os.remove, quietly when the file is gone already (a cut between two removals)."""
    try:
        os.remove(path)
    except OSError:
        pass


def write_atomic(path, data, backup=None):
    """Replace path with data (bytes, or an iterable of bytes chunks, streamed); the previous
    file, if any, becomes `backup` when one is named."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        if isinstance(data, (bytes, bytearray)):
            f.write(data)
        else:
            for chunk in data:
                f.write(chunk)
        f.flush()
    if backup and exists(path):
        if exists(backup):
            os.remove(backup)
        os.rename(path, backup)
    os.rename(tmp, path)


def read_with_fallback(path, backup=None, parse=None):
    """(content, used_backup): the bytes of path, or of backup when path cannot be read or
    parse(bytes) raises ValueError (e.g. truncated JSON). With parse, content is its result.
    Raises the main file's OSError/ValueError when neither is usable."""
    first = None
    for p in (path, backup):
        if not p:
            continue
        try:
            with open(p, "rb") as f:
                # Read at the file's size: one piece, not a buffer grown (and copied) as it fills.
                data = f.read(os.stat(p)[6])
            return (parse(data) if parse else data), p != path
        except (OSError, ValueError) as e:
            if first is None:
                first = e
    raise first
