# Runs ON THE MICROPYTHON UNIX PORT (simulated board): the port's own `machine` plus the
# parts of an ESP32's that mailer.board uses. `machine` is one of MicroPython's extensible
# built-ins: this file, on the import path, is imported in its place, and imports the built-in
# with an empty path (docs.micropython.org, "Extending built-in libraries from Python").
import sys
from time import ticks_ms

_path = sys.path
sys.path = []
from machine import *  # noqa: E402, F403  soft_reset, idle, mem8, ... as the port has them

sys.path = _path
del _path, sys

clock = ticks_ms  # what Pin timelines are stamped with (a test sets its own clock)


class Pin:
    # value(v) sets the level and records (clock(), level) in .timeline when it changes;
    # value() reads it, so a test or mpremote presses the simulated button with value(0).
    # An input with the pull-up reads 1 until then, as a released button to GND does.
    IN = 1
    OUT = 3
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self.level = (1 if pull == Pin.PULL_UP else 0) if value is None else value
        self.timeline = []

    def value(self, v=None):
        if v is None:
            return self.level
        v = 1 if v else 0
        if v != self.level:
            self.level = v
            self.timeline.append((clock(), v))
        return None


class I2C:
    # The bus the simulated ssd1306 is handed; nothing is sent on it.
    def __init__(self, id, scl=None, sda=None, freq=400000):
        self.id = id
        self.scl = scl
        self.sda = sda
        self.freq = freq


class Timer:
    # The Unix port has no timer interrupts: this keeps what mailer.board asked for and never
    # fires. The app's loop calls the status sink's tick() every turn (mailer.app.LOOP_MS), on
    # a board as well, and that is what steps the simulated LED's pattern.
    PERIODIC = 1
    ONE_SHOT = 0

    def __init__(self, id, mode=PERIODIC, period=-1, callback=None):
        self.id = id
        self.mode = mode
        self.period = period
        self.callback = callback

    def deinit(self):
        self.callback = None
