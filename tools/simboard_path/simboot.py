# Runs ON THE MICROPYTHON UNIX PORT, started by tools/simboard.py as `micropython -i simboot.py
# IMAGE [main]`: what a board does at power-on. Its flash (a LittleFS2 image file) becomes the
# root filesystem, the import path becomes a board's ('' and /lib), and with "main" main.py
# runs, as on a board after boot.py. `-i` leaves the REPL behind it (mpremote's Ctrl-C stops
# main.py and lands there, as on a board).
import sys

# The stand-ins beside this file, imported while the host's files are still reachable: they
# stay in sys.modules, so mailer.board and mailer.netup find them after the switch below.
import machine  # noqa: F401
import neopixel  # noqa: F401
import network  # noqa: F401
import ntptime  # noqa: F401
import ssd1306  # noqa: F401
from flashdev import mount

mount(sys.argv[1])
sys.path[:] = ["", ".frozen", "/lib"]
del mount
if "main" in sys.argv[2:]:
    try:
        with open("main.py") as _f:
            _src = _f.read()
    except OSError:
        _src = None  # nothing deployed yet: straight to the REPL
    if _src:
        exec(_src, {"__name__": "__main__"})
