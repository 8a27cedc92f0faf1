# Simulated hardware for the MicroPython Unix port (boards marked "simulated"): a pin that
# records its on/off timeline, and an SSD1306-sized framebuffer whose show() can dump the
# buffer to a file for tools/render_display.py. Only board.py imports this, for such boards.
import framebuf

from mailer.compat import ticks_ms


class SimPin:
    # value(v) sets the level and records (clock(), level) when it changes; value() reads it
    # (a test presses a simulated button with value(0)).
    def __init__(self, level=0, clock=ticks_ms):
        self.level = level
        self.clock = clock
        self.timeline = []

    def value(self, v=None):
        if v is None:
            return self.level
        v = 1 if v else 0
        if v != self.level:
            self.level = v
            self.timeline.append((self.clock(), v))
        return None


class SimDisplay(framebuf.FrameBuffer):
    # The same buffer layout as the ssd1306 driver (MONO_VLSB: one byte = 8 rows of a column,
    # bit 0 on top); show() counts frames and writes the buffer to `dump` when one is given.
    def __init__(self, width=128, height=64, dump=None):
        self.width = width
        self.height = height
        self.dump = dump
        self.shown = 0
        self.buffer = bytearray(width * height // 8)
        super().__init__(self.buffer, width, height, framebuf.MONO_VLSB)

    def show(self):
        self.shown += 1
        if self.dump:
            with open(self.dump, "wb") as f:
                f.write(self.buffer)
