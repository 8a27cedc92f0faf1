# Board definitions (boards/<name>.json, data only; keys in boards/README.md) and the status
# sink and button they call for. The only module that imports `machine` (and `neopixel`,
# `ssd1306`), always inside a function, so the package imports on CPython and the Unix port.
# The simulated board (the Unix port) puts its own modules of those names on its import path
# (tools/simboard_path/): this code does not know which board it runs on.
import json

from mailer import status
from mailer.compat import const, sleep_ms
from mailer.errors import MailError

# Device error codes (mailer.codes; README, "Device error codes").
_SETTINGS = const(861)  # settings invalid / bad input

TICK_MS = const(25)  # machine.Timer period that steps LED / NeoPixel patterns (all timings are multiples)
TIMER_ID = const(0)  # hardware timer 0 exists on ESP32, -S3 and -C3
RESET_MS = const(10)  # SSD1306 reset pulse (datasheet: at least 3 us low)

# section -> (required keys, optional keys); values are int, bool or str (pin names on some ports)
_SECTIONS = {
    "led": (("pin",), ("active_low",)),
    "neopixel": (("pin",), ()),
    "display": (("sda", "scl"), ("width", "height", "i2c", "addr", "freq", "reset")),
    "button": (("pin",), ("active_low", "pull_up")),
}
# asyncio: the board runs mailer.aapp's loop (sends as a task, status animated during them).
_TOP = {"name": str, "notes": str, "console": bool, "asyncio": bool}


def _bad(where, what):
    return MailError(_SETTINGS, "board %s: %s" % (where, what))


def _check(board, where):
    if not isinstance(board, dict):
        raise _bad(where, "not a JSON object")
    for key, val in board.items():
        spec = _SECTIONS.get(key)
        if spec is None:
            if key not in _TOP:
                raise _bad(where, "unknown key '%s'" % key)
            if type(val) is not _TOP[key]:
                raise _bad(where, "'%s' must be a %s" % (key, _TOP[key].__name__))
            continue
        if not isinstance(val, dict):
            raise _bad(where, "'%s' must be an object" % key)
        for k in spec[0]:
            if k not in val:
                raise _bad(where, "'%s.%s' missing" % (key, k))
        for k, v in val.items():
            if k not in spec[0] and k not in spec[1]:
                raise _bad(where, "unknown key '%s.%s'" % (key, k))
            if type(v) not in (int, bool, str):
                raise _bad(where, "'%s.%s' must be a number, true/false or a pin name" % (key, k))


def load_board(name_or_dict, root="boards"):
    """The checked board definition: a dict as is, or root/<name>.json; when root itself ends
    in .json (a board deployed as /board.json) that file, whatever the name. Bad: #861."""
    if isinstance(name_or_dict, dict):
        board = name_or_dict
        where = board.get("name", "?")
    else:
        where = name_or_dict
        path = root if root.endswith(".json") else "%s/%s.json" % (root, name_or_dict)
        try:
            with open(path) as f:
                board = json.load(f)
        except (OSError, ValueError) as e:
            raise _bad(where, "cannot read %s (%s)" % (path, e)) from None
    _check(board, where)
    return board


def _display(d):
    import machine

    Pin = machine.Pin
    try:
        import ssd1306  # micropython-lib driver: `mpremote mip install ssd1306`
    except ImportError:
        raise _bad("display", "the ssd1306 driver is not installed (mpremote mip install ssd1306)") from None
    if "reset" in d:  # e.g. Heltec: the controller stays in reset until this pin goes high
        rst = Pin(d["reset"], Pin.OUT)
        rst.value(0)
        sleep_ms(RESET_MS)
        rst.value(1)
    i2c = machine.I2C(d.get("i2c", 0), scl=Pin(d["scl"]), sda=Pin(d["sda"]), freq=d.get("freq", 400000))
    try:
        return ssd1306.SSD1306_I2C(d.get("width", 128), d.get("height", 64), i2c, d.get("addr", 0x3C))
    except OSError as e:  # no ACK: wrong board definition or display not wired
        raise _bad("display", "no SSD1306 at I2C sda=%s scl=%s (%s)" % (d["sda"], d["scl"], e)) from None


def make_status(board, out=print):
    """The status sink for a board: LED, NeoPixel, display and console as the board has them
    (several: a status.Fanout). For an LED or NeoPixel a machine.Timer calls tick(); the app's
    loop calls it too (its result: ms until the next change, -1 for none), and that alone
    drives the simulated board, whose Timer never fires."""
    led = board.get("led")
    px = board.get("neopixel")
    if led or px:
        import machine  # not for a console-only board (CPython has none)
    sinks = []
    if led:
        low = led.get("active_low", False)
        # Starts dark: an active-low LED would light until the first status otherwise.
        sinks.append(status.Led(machine.Pin(led["pin"], machine.Pin.OUT, value=int(low)), low))
    if px:
        import neopixel

        sinks.append(status.Pixel(neopixel.NeoPixel(machine.Pin(px["pin"], machine.Pin.OUT), 1)))
    if "display" in board:
        sinks.append(status.Display(_display(board["display"])))
    if board.get("console"):
        sinks.append(status.Console(out))
    sink = sinks[0] if len(sinks) == 1 else status.Fanout(*sinks)
    if led or px:
        # A soft timer callback: runs between bytecodes, so it may allocate; kept on the sink
        # so it lives as long as the sink does.
        sink.timer = machine.Timer(
            TIMER_ID, mode=machine.Timer.PERIODIC, period=TICK_MS, callback=lambda t: sink.tick()
        )
    return sink


class Button:
    # pressed(): the button is held down now (active_low: pressed reads 0, as with a pull-up).
    def __init__(self, pin, active_low=True):
        self.pin = pin
        self.active_low = active_low

    def pressed(self):
        return bool(self.pin.value()) != self.active_low


def button(board):
    """A Button for the board's "button" section, or None when it has none."""
    b = board.get("button")
    if not b:
        return None
    import machine

    pull = machine.Pin.PULL_UP if b.get("pull_up") else None
    return Button(machine.Pin(b["pin"], machine.Pin.IN, pull), b.get("active_low", True))
