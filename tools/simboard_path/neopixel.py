# Runs ON THE MICROPYTHON UNIX PORT (simulated board): a stand-in for the ESP32 `neopixel`
# module. The pixels are a list of (r, g, b); write() records what the strip would show.
class NeoPixel(list):
    def __init__(self, pin, n):
        super().__init__([(0, 0, 0)] * n)
        self.pin = pin
        self.shown = []  # one tuple of the n colours per write()

    def write(self):
        self.shown.append(tuple(self))
