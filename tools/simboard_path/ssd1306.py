# Runs ON THE MICROPYTHON UNIX PORT (simulated board): a stand-in for micropython-lib's
# `ssd1306` driver. SSD1306_I2C is a framebuffer with the driver's buffer layout (MONO_VLSB:
# byte (y // 8) * width + x, bit y % 8, bit 0 on top); show() counts frames and, when `dump`
# is a file path, writes the buffer there (tools/render_display.py turns it into a picture).
import framebuf

dump = None


class SSD1306_I2C(framebuf.FrameBuffer):
    def __init__(self, width, height, i2c, addr=0x3C, external_vcc=False):
        self.width = width
        self.height = height
        self.i2c = i2c
        self.addr = addr
        self.shown = 0
        self.buffer = bytearray(width * height // 8)
        super().__init__(self.buffer, width, height, framebuf.MONO_VLSB)

    def show(self):
        self.shown += 1
        if dump:
            with open(dump, "wb") as f:
                f.write(self.buffer)
