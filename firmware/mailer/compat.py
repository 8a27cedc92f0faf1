# What every module needs and MicroPython (board, Unix port) and CPython (host tests) spell
# differently: const(), ticks, sleep_ms, and the overall deadline. The TLS stack differs too;
# that difference lives in mailer.transport, the only module that uses it.
try:
    from micropython import const  # noqa: F401
except ImportError:  # CPython

    def const(x):  # type: ignore[misc]
        return x


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
except AttributeError:  # CPython
    _T0 = time.monotonic()  # type: ignore[attr-defined]

    def ticks_ms():
        return int((time.monotonic() - _T0) * 1000)

    def ticks_diff(a, b):
        return a - b

    def ticks_add(a, b):
        return a + b


def alnum_or(b, marks):
    """Whether every byte of b (bytes) is an ASCII letter or digit, or one of marks (bytes).
    Tests of text go through its bytes: on MicroPython iterating a str (or indexing one, or
    chr()) interns each character it yields as a qstr, on the heap for good, so a board that
    checked every subject character by character would keep growing its qstr table."""
    for c in b:
        # c & 0xDF folds a-z onto A-Z and takes nothing else there.
        if not (48 <= c <= 57 or 65 <= c & 0xDF <= 90 or c in marks):
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


def once(name, fn, *args, **kw):
    """mailer.<name>'s fn(*args, **kw), the module loaded for the call only (unload after it),
    unless another importer had it loaded already: then it stays that one module, not a second
    copy made by the next import."""
    import sys

    full = "mailer." + name
    keep = full in sys.modules
    __import__(full)
    try:
        return getattr(sys.modules[full], fn)(*args, **kw)
    finally:
        if not keep:
            unload(name)


def sleep_ms(ms):
    if hasattr(time, "sleep_ms"):
        time.sleep_ms(ms)
    else:
        time.sleep(ms / 1000)


# One overall deadline for a whole operation; every wait asks how long it leaves, so a peer
# that trickles bytes cannot stretch the operation past it. A plain tick value, not an object
# of a class: no type, dict and methods on the heap for it.
def deadline(ms):
    """The deadline ms milliseconds from now (a ticks_ms value, for left_ms)."""
    return ticks_add(ticks_ms(), int(ms))


def left_ms(end):
    """Milliseconds until the deadline end (deadline()), negative once it has passed."""
    return ticks_diff(end, ticks_ms())
