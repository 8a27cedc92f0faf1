#!/usr/bin/env python3
# Renders a dumped SSD1306 display buffer (the simulated board's ssd1306.SSD1306_I2C in
# tools/simboard_path/, MONO_VLSB: byte (y // 8) * width + x, bit y % 8) as a PNG, written by
# hand (zlib + struct, no Pillow).
#   render_display.py DUMP OUT.png [--scale N] [--width 128] [--height 64]
#   render_display.py --examples DIR   draw the README's screens (#839, #862, sent) on the
#                                      MicroPython Unix port and render them to DIR/status_*.png
import argparse
import os
import struct
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tools.simboard import SIM_PATH  # noqa: E402

LIT = bytes((225, 240, 255))  # an OLED's white pixel
DARK = bytes((12, 14, 18))
GAP = bytes((0, 0, 0))  # between pixels when scaled, so the picture looks like the panel

# (file name, sink call) for the README pictures: the same calls the firmware makes.
EXAMPLES = (
    ("status_839.png", 'error(839, "", "535 5.7.8 Authentication credentials invalid", (2026, 11, 29, 10, 0, 0))'),
    ("status_862.png", 'error(862, "", "530 5.7.0 Must issue a STARTTLS command first", (2026, 11, 29, 10, 5, 0))'),
    ("status_sent.png", 'sent("<1764410400.8f3a2c@board.local>")'),
)


def pixels(buf, width=128, height=64):
    """Rows of 0/1 from a MONO_VLSB buffer."""
    if len(buf) != width * height // 8:
        raise ValueError("buffer is %d bytes, %dx%d needs %d" % (len(buf), width, height, width * height // 8))
    return [[(buf[(y >> 3) * width + x] >> (y & 7)) & 1 for x in range(width)] for y in range(height)]


def png(rows, scale=4):
    """PNG bytes (8-bit RGB) of rows of 0/1, each pixel scale x scale (with a 1-pixel gap from 3 up)."""
    gap = scale >= 3
    lines = []
    for row in rows:
        for sy in range(scale):
            line = bytearray(b"\0")  # filter type 0 (None) for each scanline
            for v in row:
                px = LIT if v else DARK
                for sx in range(scale):
                    line += GAP if gap and (sx == scale - 1 or sy == scale - 1) else px
            lines.append(bytes(line))
    w, h = len(rows[0]) * scale, len(rows) * scale

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"".join(lines), 9))
        + chunk(b"IEND", b"")
    )


def render(dump, out, scale=4, width=128, height=64):
    with open(dump, "rb") as f:
        data = png(pixels(f.read(), width, height), scale)
    with open(out, "wb") as f:
        f.write(data)


def examples(outdir, micropython=None):
    """Drive the display sink on the Unix port for each example, dump, render."""
    micropython = micropython or os.environ.get("MICROPYTHON") or os.path.join(ROOT, ".venv", "bin", "micropython")
    os.makedirs(outdir, exist_ok=True)
    env = dict(os.environ, MICROPYPATH=os.path.join(ROOT, "firmware") + ":" + SIM_PATH)
    with tempfile.TemporaryDirectory() as tmp:
        for name, call in EXAMPLES:
            dump = os.path.join(tmp, name + ".bin")
            code = (
                "import ssd1306\nfrom mailer.status import Display\nssd1306.dump = %r\n"
                "Display(ssd1306.SSD1306_I2C(128, 64, None)).%s\n" % (dump, call)
            )
            subprocess.run([micropython, "-c", code], check=True, env=env)
            render(dump, os.path.join(outdir, name))
            print(os.path.join(outdir, name))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dump", nargs="?")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--height", type=int, default=64)
    ap.add_argument("--examples", metavar="DIR")
    a = ap.parse_args(argv)
    if a.examples:
        examples(a.examples)
    elif a.dump and a.out:
        render(a.dump, a.out, a.scale, a.width, a.height)
    else:
        ap.error("give DUMP OUT.png, or --examples DIR")
    return 0


if __name__ == "__main__":
    sys.exit(main())
