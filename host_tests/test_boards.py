# Board definitions: every boards/*.json is valid, bad ones fail with #861 naming the key, and
# make_status()/button() build the right sinks and pins per board (fake machine/neopixel/ssd1306
# modules on CPython; on the Unix port, the simulated board's own modules of those names).
import glob
import json
import os
import sys
import types

import mpy
import pytest
from mailer import board, status
from mailer.errors import MailError

from tools.simboard import SIM_PATH

BOARDS = os.path.join(mpy.ROOT, "boards")
NAMES = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(BOARDS, "*.json")))
REPLY = "535 5.7.8 Authentication credentials invalid"


class Hw:
    """Fake machine / neopixel / ssd1306 modules recording what the board module asks for."""

    def __init__(self, monkeypatch, with_ssd1306=True, display_fails=False):
        self.pins, self.i2c, self.timers, self.pixels, self.displays = [], [], [], [], []
        hw = self

        class Pin:
            OUT, IN, PULL_UP = 3, 1, 2

            def __init__(self, id, mode=-1, pull=-1, value=None):
                self.id, self.mode, self.pull, self.values, self.start = id, mode, pull, [], value
                self.level = value or 0
                hw.pins.append(self)

            def value(self, v=None):
                if v is None:
                    return self.level
                self.level = v
                self.values.append(v)

        class I2C:
            def __init__(self, id, scl, sda, freq):
                hw.i2c.append((id, scl.id, sda.id, freq))

        class Timer:
            PERIODIC = 1

            def __init__(self, id, mode, period, callback):
                self.args = (id, mode, period)
                self.callback = callback
                hw.timers.append(self)

        class NeoPixel(list):
            def __init__(self, pin, n):
                super().__init__([(0, 0, 0)] * n)
                self.pin, self.writes = pin, 0
                hw.pixels.append(self)

            def write(self):
                self.writes += 1

        class SSD1306_I2C:
            def __init__(self, w, h, i2c, addr):
                if display_fails:
                    raise OSError(19)  # ENODEV: nothing answers at that address
                self.args, self.texts, self.shown = (w, h, addr), [], 0
                hw.displays.append(self)

            def fill(self, c):
                self.texts = []

            def text(self, s, x, y, c=1):
                self.texts.append((s, x, y))

            def show(self):
                self.shown += 1

        self.Pin = Pin
        machine = types.ModuleType("machine")
        machine.Pin, machine.I2C, machine.Timer = Pin, I2C, Timer
        neopixel = types.ModuleType("neopixel")
        neopixel.NeoPixel = NeoPixel
        monkeypatch.setitem(sys.modules, "machine", machine)
        monkeypatch.setitem(sys.modules, "neopixel", neopixel)
        if with_ssd1306:
            ssd1306 = types.ModuleType("ssd1306")
            ssd1306.SSD1306_I2C = SSD1306_I2C
            monkeypatch.setitem(sys.modules, "ssd1306", ssd1306)
        else:
            monkeypatch.setitem(sys.modules, "ssd1306", None)  # import fails


def test_required_boards_exist_and_load():
    assert {"esp32_devkitc", "esp32_s3_devkitc_1", "esp32_c3_devkitm_1", "heltec_wifi_kit_32", "unix"} <= set(NAMES)
    for name in NAMES:
        with open(os.path.join(BOARDS, name + ".json")) as f:
            raw = json.load(f)
        b = board.load_board(name, BOARDS)
        assert b == raw and isinstance(b["name"], str) and b["name"]
        # At least one way to show a status.
        assert {"led", "neopixel", "display", "console"} & set(b), name


def test_readme_documents_every_key():
    text = open(os.path.join(BOARDS, "README.md")).read()
    keys = set()
    for name in NAMES:
        for k, v in board.load_board(name, BOARDS).items():
            keys.add(k)
            if isinstance(v, dict):
                keys.update("%s.%s" % (k, kk) for kk in v)
    for k in sorted(keys):
        assert "`%s`" % k in text, k


def test_devkitc_led_on_gpio2_with_timer(monkeypatch):
    hw = Hw(monkeypatch)
    sink = board.make_status(board.load_board("esp32_devkitc", BOARDS))
    assert isinstance(sink, status.Led) and sink.active_low is False
    (pin,) = hw.pins
    assert (pin.id, pin.mode, pin.start) == (2, hw.Pin.OUT, 0)  # made dark, not lit until idle()
    (timer,) = hw.timers
    assert timer.args == (0, 1, 25)
    sink.error(839)
    assert pin.level == 1
    sink._t0 -= 200  # 200 ms later the timer's callback turns the LED off
    timer.callback(timer)
    assert pin.level == 0
    btn = board.button(board.load_board("esp32_devkitc", BOARDS))
    assert (hw.pins[-1].id, hw.pins[-1].mode, hw.pins[-1].pull) == (0, hw.Pin.IN, hw.Pin.PULL_UP)
    hw.pins[-1].level = 1
    assert btn.pressed() is False
    hw.pins[-1].level = 0
    assert btn.pressed() is True


def test_active_low_led_is_made_dark(monkeypatch):
    hw = Hw(monkeypatch)
    board.make_status(board.load_board({"name": "x", "led": {"pin": 5, "active_low": True}}))
    (pin,) = hw.pins
    assert (pin.id, pin.start, pin.level) == (5, 1, 1)  # high from the start: never lit by idle


@pytest.mark.parametrize("name,gpio", [("esp32_s3_devkitc_1", 48), ("esp32_c3_devkitm_1", 8)])
def test_neopixel_boards(monkeypatch, name, gpio):
    hw = Hw(monkeypatch)
    sink = board.make_status(board.load_board(name, BOARDS))
    assert isinstance(sink, status.Pixel)
    (np,) = hw.pixels
    assert (np.pin.id, np.pin.mode, len(np)) == (gpio, hw.Pin.OUT, 1)
    assert len(hw.timers) == 1
    sink.error(839)
    assert np[0] == (48, 0, 0)
    sink.busy()
    assert np[0] == (0, 0, 48)
    sink.sent("<m>")
    assert np[0] == (0, 48, 0)


def test_heltec_led_and_ssd1306(monkeypatch):
    hw = Hw(monkeypatch)
    sink = board.make_status(board.load_board("heltec_wifi_kit_32", BOARDS))
    assert isinstance(sink, status.Fanout)
    led, disp = sink.sinks
    assert isinstance(led, status.Led) and isinstance(disp, status.Display)
    by_id = {p.id: p for p in hw.pins}
    assert by_id[25].mode == hw.Pin.OUT
    assert by_id[16].values == [0, 1]  # reset pulse before the controller is spoken to
    assert hw.i2c == [(0, 15, 4, 400000)]
    (oled,) = hw.displays
    assert oled.args == (128, 64, 0x3C)
    sink.error(839, "", REPLY, (2026, 11, 29, 10, 0, 0))
    assert ("ERROR #839", 0, 0) in oled.texts and ("Reply 535 5.7.8", 0, 47) in oled.texts
    assert ("2026-11-29 10:00", 0, 56) in oled.texts
    assert by_id[25].level == 1


def test_display_without_driver_is_861(monkeypatch):
    Hw(monkeypatch, with_ssd1306=False)
    with pytest.raises(MailError) as e:
        board.make_status(board.load_board("heltec_wifi_kit_32", BOARDS))
    assert e.value.code == 861 and "mip install ssd1306" in e.value.detail


def test_display_not_answering_is_861(monkeypatch):
    Hw(monkeypatch, display_fails=True)
    with pytest.raises(MailError) as e:
        board.make_status(board.load_board("heltec_wifi_kit_32", BOARDS))
    assert e.value.code == 861 and "sda=4 scl=15" in e.value.detail


def test_console_only_board_from_dict():
    lines = []
    sink = board.make_status(board.load_board({"name": "host", "console": True}), out=lines.append)
    assert isinstance(sink, status.Console)
    sink.error(843)
    assert lines == ["#843 Device clock not set, or too far off for secure authentication"]
    assert board.button({"name": "host"}) is None


def test_deployed_board_json_path(tmp_path):
    p = tmp_path / "board.json"
    p.write_text(json.dumps({"name": "x", "neopixel": {"pin": 8}}))
    assert board.load_board("esp32_c3_devkitm_1", str(p)) == {"name": "x", "neopixel": {"pin": 8}}


@pytest.mark.parametrize(
    "b,msg",
    [
        ({"name": "x", "lcd": {}}, "unknown key 'lcd'"),
        ({"name": "x", "led": {"pin": 2, "colour": 1}}, "unknown key 'led.colour'"),
        ({"name": "x", "led": {"active_low": True}}, "'led.pin' missing"),
        ({"name": "x", "display": {"sda": 4}}, "'display.scl' missing"),
        ({"name": "x", "led": {"pin": [2]}}, "'led.pin' must be"),
        ({"name": "x", "led": 2}, "'led' must be an object"),
        ({"name": "x", "console": "yes"}, "'console' must be a bool"),
        ({"name": 5}, "'name' must be a str"),
    ],
)
def test_bad_board_is_861_naming_the_key(b, msg):
    with pytest.raises(MailError) as e:
        board.load_board(b)
    assert e.value.code == 861 and msg in e.value.detail, e.value.detail


def test_unreadable_board_file_is_861(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1]")
    for name, msg in (("missing", "cannot read"), ("broken", "cannot read"), ("list", "not a JSON object")):
        with pytest.raises(MailError) as e:
            board.load_board(name, str(tmp_path))
        assert e.value.code == 861 and ("board %s: " % name) in e.value.detail and msg in e.value.detail


UNIX_SCRIPT = """
import json
import machine, ssd1306
from mailer import board, status
lines = []
ssd1306.dump = %(dump)r
b = board.load_board("unix", %(boards)r)
s = board.make_status(b, out=lines.append)
led, disp, con = s.sinks
s.busy()
s.error(839, "", %(reply)r, (2026, 11, 29, 10, 0, 0))
btn = board.button(b)
before = btn.pressed()
btn.pin.value(0)
print(json.dumps({
    "kinds": [type(x).__name__ for x in s.sinks],
    "pin": [type(led.pin).__name__, led.pin.id, machine.__file__], "lit": led.pin.level,
    "fb": [type(disp.fb).__name__, ssd1306.__file__], "i2c": [disp.fb.i2c.scl.id, disp.fb.i2c.sda.id],
    "timer": [s.timer.period, s.timer.callback is not None], "timeline": [v for _, v in led.pin.timeline],
    "lines": lines, "tick": s.tick(), "shown": disp.fb.shown, "button": [btn.pin.id, before, btn.pressed()],
    "soft_reset": hasattr(machine, "soft_reset"),
}))
"""


def test_unix_board_is_simulated_led_display_console(tmp_path):
    dump = tmp_path / "screen.bin"
    r = mpy.run_code(UNIX_SCRIPT % {"boards": BOARDS, "dump": str(dump), "reply": REPLY}, extra_path=(SIM_PATH,))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["kinds"] == ["Led", "Display", "Console"]
    # The simulated board's own modules, found on its import path, not the port's machine.
    assert out["pin"] == ["Pin", 25, os.path.join(SIM_PATH, "machine.py")] and out["lit"] == 1
    assert out["fb"] == ["SSD1306_I2C", os.path.join(SIM_PATH, "ssd1306.py")] and out["i2c"] == [15, 4]
    assert out["soft_reset"] is True  # ... which still has what the port's machine has
    assert out["timer"] == [25, True]  # asked for as on a board; the loop's tick() drives it
    assert out["timeline"] == [1]  # lit by busy(), and the error's first blink keeps it lit
    assert out["lines"] == ["sending...", "#839 SMTP authentication failed (%s) at 2026-11-29 10:00:00" % REPLY]
    assert 0 < out["tick"] <= 200 and out["shown"] == 3
    assert out["button"] == [0, False, True]
    assert len(dump.read_bytes()) == 1024 and any(dump.read_bytes())


EVERY_BOARD = """
import json
from mailer import board
out = {}
for name in %(names)r:
    b = board.load_board(name, %(boards)r)
    s = board.make_status(b, out=lambda line: None)
    s.error(839)
    sinks = getattr(s, "sinks", (s,))
    out[name] = [type(x).__name__ for x in sinks]
    for x in sinks:
        if hasattr(x, "np"):
            out[name].append(x.np.shown[-1])
    btn = board.button(b)
    out[name].append(btn.pressed() if btn else None)
print(json.dumps(out))
"""


def test_every_board_runs_on_the_simulated_board():
    # A board definition never says it is simulated: the same file runs on the Unix port with
    # the simulated board's path (here every pin, I2C and NeoPixel call board.py makes for it).
    r = mpy.run_code(EVERY_BOARD % {"names": NAMES, "boards": BOARDS}, extra_path=(SIM_PATH,))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out == {
        "esp32_c3_devkitm_1": ["Pixel", [[48, 0, 0]], False],
        "esp32_devkitc": ["Led", False],
        "esp32_s3_devkitc_1": ["Pixel", [[48, 0, 0]], False],
        "heltec_wifi_kit_32": ["Led", "Display", False],
        "unix": ["Led", "Display", "Console", False],
    }
