# Status sinks: LED blink timeline (exact, against the documented timings), NeoPixel colours,
# display contents (pixels on the Unix port's framebuf), console line, fan-out, and the
# display-to-PNG tool.
import glob
import json
import os
import re
import struct
import subprocess
import sys
import zlib

import mpy
import pytest
from mailer import codes, errors, status

from tools import render_display
from tools.simboard import SIM_PATH

REPLY = "535 5.7.8 Authentication credentials invalid"
WHEN = (2026, 11, 29, 10, 0, 0, 6, 333)
# Every device code's meaning, as the display and console show it.
CODES = [v for n, v in vars(codes).items() if n.isupper() and isinstance(v, int)]
MEANINGS = [errors.meaning(c) for c in CODES]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_code_is_named_once_with_the_readme_meaning():
    # mailer.codes names the README's table: the same 16 codes, each with the README's text.
    with open(os.path.join(ROOT, "README.md")) as f:
        table = dict(re.findall(r"^\| #(8\d\d) \| ([A-Z][^|]+?) \|", f.read(), re.M))
    assert len(table) == 16
    assert sorted(CODES) == sorted(int(c) for c in table)
    assert [m for m in MEANINGS if m == "?"] == []
    for c, m in zip(CODES, MEANINGS):
        assert m.startswith(table[str(c)]), (c, m)


def test_private_code_constants_match_the_named_table():
    # Each firmware module keeps its own _NAME = const(8xx) of the codes it raises (no public
    # names on a board's heap): each must be the number mailer.codes gives that name.
    found = 0
    for path in glob.glob(os.path.join(ROOT, "firmware", "mailer", "*.py")):
        with open(path) as f:
            for name, value in re.findall(r"^_([A-Z_]+) = const\((8\d\d)\)", f.read(), re.M):
                assert getattr(codes, name) == int(value), (path, name, value)
                found += 1
    assert found > 40  # the scan saw the modules' constants (about 60)


class Clock:
    def __init__(self):
        self.t = 0

    def __call__(self):
        return self.t


def documented(digits, rounds):
    """The README's pattern written out: each blink 200 ms lit / 200 ms dark, 800 ms dark after
    a digit, 2000 ms after the code; digit 0 = ten blinks. [(t_ms, level)] transitions."""
    out, t = [], 0
    for _ in range(rounds):
        for i, d in enumerate(digits):
            n = d or 10
            for b in range(n):
                out.append((t, 1))
                t += 200
                out.append((t, 0))
                t += 200 if b < n - 1 else (800 if i < len(digits) - 1 else 2000)
    return out, t // rounds


def test_documented_periods():
    assert documented((8, 3, 9), 1)[1] == 11000
    assert documented((8, 0, 1), 1)[1] == 10600


@pytest.mark.parametrize("code,digits", [(839, (8, 3, 9)), (801, (8, 0, 1))])
def test_blink_steps_match_documented_pattern(code, digits):
    steps = status.blink_steps(code)
    assert sum(ms for _, ms in steps) == documented(digits, 1)[1]
    t, transitions = 0, []
    for level, ms in steps:
        transitions.append((t, level))
        t += ms
    # Every step changes the level, so the steps are exactly the documented transitions.
    assert transitions == documented(digits, 1)[0]


def test_blink_steps_801_literal_start_and_end():
    steps = status.blink_steps(801)
    assert steps[:16] == [(1, 200), (0, 200)] * 7 + [(1, 200), (0, 800)]
    assert steps[16:36] == [(1, 200), (0, 200)] * 9 + [(1, 200), (0, 800)]
    assert steps[36:] == [(1, 200), (0, 2000)]


# The LED driver on the Unix port with the simulated board's machine.Pin: the recorded timeline
# over two rounds, stepping the clock 1 ms at a time, and again jumping by what tick() says is left.
LED_SCRIPT = """
import json
import machine
from mailer import status
T = [0]
clk = lambda: T[0]
machine.clock = clk
out = {}
for code in (839, 801):
    for low in (0, 1):
        pin = machine.Pin(25, machine.Pin.OUT, value=low)
        led = status.Led(pin, low, clk)
        T[0] = 1000
        led.error(code)
        while T[0] < 1000 + %(span)d:
            T[0] += 1
            led.tick()
        jump = machine.Pin(25, machine.Pin.OUT, value=low)
        led = status.Led(jump, low, clk)
        T[0] = 1000
        led.error(code)
        while T[0] < 1000 + %(span)d:
            T[0] += led.tick()
            led.tick()
        out["%%d/%%d" %% (code, low)] = [pin.timeline, jump.timeline]
print(json.dumps(out))
"""


def test_led_timeline_on_unix_port_matches_documented_pattern():
    span = 22000  # two rounds of #839 (11000 ms), two of #801 (10600 ms) and a bit
    r = mpy.run_code(LED_SCRIPT % {"span": span}, extra_path=(SIM_PATH,))
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    for code, digits in ((839, (8, 3, 9)), (801, (8, 0, 1))):
        want, period = documented(digits, 3)
        want = [(1000 + t, v) for t, v in want if t <= span]
        for low in (0, 1):
            stepped, jumped = got["%d/%d" % (code, low)]
            pin_levels = [[t, v ^ low] for t, v in want]
            assert stepped == pin_levels, (code, low)
            assert jumped == pin_levels, (code, low)
    # #839 relights at the start of its third round: the period is exactly 11000 ms.
    assert got["839/0"][0][-1] == [1000 + 22000, 1]


def test_led_busy_sent_idle():
    clk = Clock()

    class Pin:
        def __init__(self):
            self.log = []

        def value(self, v):
            self.log.append((clk.t, v))

    pin = Pin()
    led = status.Led(pin, active_low=True, clock=clk)
    assert pin.log == [(0, 1)]  # idle: dark, an active-low pin high
    led.busy()
    for clk.t in range(1, 201):
        led.tick()
    assert pin.log[1:] == [(t, 0 if (t // 50) % 2 == 0 else 1) for t in range(0, 201, 50)]
    clk.t = 1000
    pin.log.clear()
    led.sent("<id@x>")
    assert pin.log == [(1000, 0)]
    clk.t = 3999
    assert led.tick() == 1
    clk.t = 4000
    assert led.tick() == -1
    clk.t = 60000
    assert led.tick() == -1
    assert pin.log == [(1000, 0), (4000, 1)]  # lit 3000 ms, then dark for good
    led.error(801)
    led.idle()
    assert pin.log[-1] == (60000, 1) and led.tick() == -1


def test_led_keeps_phase_across_ticks_wraparound(monkeypatch):
    # On ESP32 ticks_ms wraps every 2**30 ms (12.4 days) and ticks_diff is valid over half of
    # that; an error may blink for longer. (The Unix port's ticks period is far larger, so the
    # ESP32 arithmetic is put in here.) Ticked every ~2.8 hours, the phase stays exact.
    period, half = 1 << 30, 1 << 29
    monkeypatch.setattr(status, "ticks_add", lambda a, b: (a + b) % period)
    monkeypatch.setattr(status, "ticks_diff", lambda a, b: ((a - b + half) % period) - half)
    clk = Clock()
    clk.t = period - 5000

    class Pin:
        level = None

        def value(self, v):
            self.level = v

    pin = Pin()
    led = status.Led(pin, clock=clk)
    start = clk.t
    led.error(839)
    for k in range(1, 400):  # 400 steps of 917 rounds: about 47 days
        clk.t = (start + k * 917 * 11000 + 100) % period
        assert (led.tick(), pin.level) == (100, 1), k
        clk.t = (start + k * 917 * 11000 + 3300) % period
        assert (led.tick(), pin.level) == (500, 0), k


class FakePixels:
    def __init__(self):
        self.px = [None]
        self.writes = []

    def __setitem__(self, i, v):
        self.px[i] = v

    def __getitem__(self, i):
        return self.px[i]

    def write(self):
        self.writes.append(self.px[0])


def test_neopixel_colours():
    clk = Clock()
    np = FakePixels()
    px = status.Pixel(np, clock=clk)
    assert np.writes == [(0, 0, 0)]
    px.error(839)
    assert np[0] == status.RED == (48, 0, 0)
    clk.t = 200
    px.tick()
    assert np[0] == (0, 0, 0)
    clk.t = 3799  # the end of the gap after the eighth blink
    px.tick()
    assert np[0] == (0, 0, 0)
    clk.t = 3800
    px.tick()
    assert np[0] == status.RED  # first blink of the 3
    px.busy()
    assert np[0] == status.BLUE == (0, 0, 48)
    clk.t += 50
    px.tick()
    assert np[0] == (0, 0, 0)
    px.sent()
    assert np[0] == status.GREEN == (0, 48, 0)
    clk.t += 3000
    px.tick()
    assert np[0] == (0, 0, 0)
    # Writes only on change: idle, red, off, red, blue, off, green, off.
    assert len(np.writes) == 8


def test_console_line():
    lines = []
    c = status.Console(lines.append)
    c.error(839, "", REPLY, WHEN)
    c.error(862, "server does not offer STARTTLS")
    c.error(801, "timed out", "421 4.7.0 Try again later", WHEN)
    c.busy()
    c.sent("<1@board>")
    c.sent()
    c.idle()
    assert lines == [
        "#839 SMTP authentication failed (535 5.7.8 Authentication credentials invalid) at 2026-11-29 10:00:00",
        "#862 Encryption required but not available: server does not offer STARTTLS",
        "#801 Error communicating with the SMTP server: timed out (421 4.7.0 Try again later) at 2026-11-29 10:00:00",
        "sending...",
        "sent <1@board>",
        "sent",
    ]


def test_fanout_reaches_every_sink_and_ticks_soonest():
    calls = []

    class Sink:
        def __init__(self, name, left):
            self.name, self.left = name, left

        def busy(self):
            calls.append((self.name, "busy"))

        def sent(self, info=""):
            calls.append((self.name, "sent", info))

        def error(self, code, text="", reply=None, when=None):
            calls.append((self.name, "error", code, text, reply, when))

        def idle(self):
            calls.append((self.name, "idle"))

        def tick(self):
            return self.left

    f = status.Fanout(Sink("a", -1), Sink("b", 70), Sink("c", 30))
    f.busy()
    f.error(839, "x", REPLY, WHEN)
    f.sent("<m>")
    f.idle()
    assert calls == [(n, "busy") for n in "abc"] + [(n, "error", 839, "x", REPLY, WHEN) for n in "abc"] + [
        (n, "sent", "<m>") for n in "abc"
    ] + [(n, "idle") for n in "abc"]
    assert f.tick() == 30
    assert status.Fanout(Sink("a", -1)).tick() == -1


@pytest.mark.parametrize(
    "reply,want",
    [
        (REPLY, "535 5.7.8"),
        ("535-5.7.8 first line of many", "535 5.7.8"),
        ("421 Service not available", "421"),
        ("554 5.7.1", "554 5.7.1"),
        ("250", "250"),
        ("", ""),
        (None, ""),
        ("garbage", ""),
        ("550 5.1 half an enhanced code", "550"),
    ],
)
def test_reply_codes(reply, want):
    assert status.reply_codes(reply) == want


def test_wrap_fits_16_columns():
    for text in MEANINGS + ["<1764410400.8f3a2c@board.local>"]:
        lines = status.wrap(text)
        assert all(len(s) <= 16 for s in lines)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert status.wrap("SMTP authentication failed") == ["SMTP", "authentication", "failed"]
    assert max(len(status.wrap(t)) for t in MEANINGS) <= 4  # the display's 4 rows
    assert len(CODES) == 16 and "?" not in MEANINGS


# The display sink on the Unix port, on the simulated board's ssd1306: the buffer equals a reference drawn
# with FrameBuffer.text
# at the documented rows, and (independently of layout) contains the glyphs of "#839" and of
# "535 5.7.8" somewhere.
DISPLAY_SCRIPT = """
import binascii, framebuf, json
from mailer import status
import ssd1306
def fb():
    b = bytearray(1024)
    return b, framebuf.FrameBuffer(b, 128, 64, framebuf.MONO_VLSB)
ssd1306.dump = %(dump)r
d = ssd1306.SSD1306_I2C(128, 64, None)
s = status.Display(d)
out = {"idle": binascii.hexlify(d.buffer).decode()}
s.error(839, "detail not shown", %(reply)r, %(when)r)
out["error"] = binascii.hexlify(d.buffer).decode()
out["shown"] = d.shown
ref, rfb = fb()
for y, t in ((0, "ERROR #839"), (11, "SMTP"), (20, "authentication"), (29, "failed"),
             (47, "Reply 535 5.7.8"), (56, "2026-11-29 10:00")):
    rfb.text(t, 0, y, 1)
out["ref"] = binascii.hexlify(ref).decode()
for t in ("#839", "535 5.7.8"):
    b = bytearray(128)
    g = framebuf.FrameBuffer(b, 128, 8, framebuf.MONO_VLSB)
    g.text(t, 0, 0, 1)
    out[t] = binascii.hexlify(b[:8 * len(t)]).decode()
s.sent("<1764410400.8f3a2c@board.local>")
ref, rfb = fb()
for y, t in ((0, "SENT"), (12, "<1764410400.8f3a"), (21, "2c@board.local>")):
    rfb.text(t, 0, y, 1)
out["sent_ok"] = d.buffer == ref
s.busy()
out["busy_lit"] = sum(bin(x).count("1") for x in d.buffer)
s.idle()
out["idle_lit"] = sum(bin(x).count("1") for x in d.buffer)
print(json.dumps(out))
"""


def contains(screen, glyphs, width):
    """Is the glyph block (8 rows, `width` columns) somewhere in the screen's rows of pixels?"""
    for y in range(64 - 7):
        for x in range(128 - width + 1):
            if all(screen[y + r][x : x + width] == glyphs[r] for r in range(8)):
                return True
    return False


def test_display_shows_code_reply_and_time(tmp_path):
    dump = str(tmp_path / "screen.bin")
    r = mpy.run_code(DISPLAY_SCRIPT % {"dump": dump, "reply": REPLY, "when": WHEN}, extra_path=(SIM_PATH,))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["idle"] == "00" * 1024
    assert out["error"] == out["ref"]
    assert out["shown"] == 2  # idle at start, then the error
    screen = render_display.pixels(bytes.fromhex(out["error"]))
    for text in ("#839", "535 5.7.8"):
        line = render_display.pixels(bytes.fromhex(out[text]) + bytes(128 - 8 * len(text)), 128, 8)
        glyphs = [row[: 8 * len(text)] for row in line]
        assert any(any(row) for row in glyphs)
        assert contains(screen, glyphs, 8 * len(text)), text
    assert out["sent_ok"] is True
    assert out["busy_lit"] > 0 and out["idle_lit"] == 0
    # The last frame shown (idle) went to the dump file.
    assert open(dump, "rb").read() == bytes(1024)


def decode_png(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])[0] == zlib.crc32(kind + body)
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h = ihdr[:2]
    raw = zlib.decompress(idat)
    rows = [raw[y * (1 + 3 * w) : (y + 1) * (1 + 3 * w)] for y in range(h)]
    assert all(r[0] == 0 for r in rows)
    return ihdr, [[tuple(r[1 + 3 * x : 4 + 3 * x]) for x in range(w)] for r in rows]


def test_render_display_png(tmp_path):
    buf = bytearray(1024)
    buf[0] = 0b00000001  # pixel (0, 0)
    buf[128 * 7 + 127] = 0b10000000  # pixel (127, 63)
    buf[128 * 2 + 5] = 0b00001000  # pixel (5, 19)
    dump, out = tmp_path / "d.bin", tmp_path / "d.png"
    dump.write_bytes(bytes(buf))
    render_display.render(str(dump), str(out), scale=4)
    ihdr, px = decode_png(out.read_bytes())
    assert ihdr == (512, 256, 8, 2, 0, 0, 0)
    lit, dark = tuple(render_display.LIT), tuple(render_display.DARK)
    lit_at = {(x, y) for y in range(64) for x in range(128) if px[4 * y][4 * x] == lit}
    assert lit_at == {(0, 0), (127, 63), (5, 19)}
    assert px[4][4] == dark and px[3][0] == (0, 0, 0)  # gap row between panel pixels
    render_display.render(str(dump), str(out), scale=1)
    ihdr, px = decode_png(out.read_bytes())
    assert ihdr[:2] == (128, 64) and px[19][5] == lit and px[19][4] == dark
    with pytest.raises(ValueError):
        render_display.pixels(b"\0" * 100)


def test_render_display_examples(tmp_path):
    r = subprocess.run(
        [sys.executable, os.path.join(mpy.ROOT, "tools", "render_display.py"), "--examples", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    for name in ("status_839.png", "status_862.png", "status_sent.png"):
        ihdr, px = decode_png((tmp_path / name).read_bytes())
        assert ihdr[:2] == (512, 256)
        # The committed README picture is what the tool makes today.
        assert (tmp_path / name).read_bytes() == open(os.path.join(mpy.ROOT, "docs", "img", name), "rb").read()
