# What every module needs and MicroPython (board, Unix port) and CPython (host tests) spell
# differently: const(), ticks, sleep_ms, and the overall deadline. The TLS stack differs too;
# that difference lives in mailer.transport, the only module that uses it.
try:
    from micropython import const  # noqa: F401
except ImportError:  # CPython

    def const(value):  # type: ignore[misc]
        return value


import time

# A clock before this year was never set (an ESP32 boots in 2000): certificate dates cannot
# be checked and mail cannot be dated by it (#843).
_MIN_YEAR = const(2025)


def clock_ok():
    """Whether the clock was ever set: certificate dates and Date headers need it (#843)."""
    return time.gmtime()[0] >= _MIN_YEAR


try:
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff
    ticks_add = time.ticks_add
except AttributeError:  # CPython (written with names a board has already: each new one would be interned)
    ticks_add = int.__add__  # type: ignore[assignment]
    ticks_diff = int.__sub__  # type: ignore[assignment]

    def ticks_ms():
        return int(time.monotonic() * 1000)  # type: ignore[attr-defined]


def alnum_or(data, extra):
    """Whether every byte of data (bytes) is an ASCII letter or digit, or one of extra (bytes).
    Tests of text go through its bytes: on MicroPython iterating a str (or indexing one, or
    chr()) interns each character it yields as a qstr, on the heap for good, so a board that
    checked every subject character by character would keep growing its qstr table."""
    for c in data:
        # c & 0xDF folds a-z onto A-Z and takes nothing else there.
        if not (48 <= c <= 57 or 65 <= c & 0xDF <= 90 or c in extra):
            return False
    return True


def unload(name):
    """Forget mailer.<name>, a module imported for one operation (the settings check, the making
    of a message): its code and constants leave the heap once nothing refers to them (the
    names it interned stay). The next import loads it again."""
    import sys

    import mailer

    sys.modules.pop("mailer." + name, None)
    if hasattr(mailer, name):
        delattr(mailer, name)


def once(name, function, *args, **kw):
    """mailer.<name>'s function(*args, **kw), the module loaded for the call only (unload after it),
    unless another importer had it loaded already: then it stays that one module, not a second
    copy made by the next import."""
    import sys

    full = "mailer." + name
    keep = full in sys.modules
    __import__(full)
    try:
        return getattr(sys.modules[full], function)(*args, **kw)
    finally:
        if not keep:
            unload(name)


def sleep_ms(n):
    if hasattr(time, "sleep_ms"):
        time.sleep_ms(n)
    else:
        time.sleep(n / 1000)


# One overall deadline for a whole operation; every wait asks how long it leaves, so a peer
# that trickles bytes cannot stretch the operation past it. A plain tick value, not an object
# of a class: no type, dict and methods on the heap for it.
def deadline(n):
    """The deadline n milliseconds from now (a ticks_ms value, for left_ms)."""
    return ticks_add(ticks_ms(), int(n))


def left_ms(end):
    """Milliseconds until the deadline end (deadline()), negative once it has passed."""
    return ticks_diff(end, ticks_ms())
