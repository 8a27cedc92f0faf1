# Status sinks: what the board shows while sending, after a send, and for a device error code.
# Every sink has the same methods:
#   busy()                                   a send is under way
#   sent(info="")                            the server accepted the message (info: Message-ID)
#   error(code, text="", reply=None, when=None)
#                                            code: device code (mailer.errors); text: detail;
#                                            reply: the server's reply line; when: time tuple
#   idle()                                   nothing to show
#   tick()                                   advance a blink pattern; returns ms until the next
#                                            change, or -1 when nothing changes any more
# The hardware (pin, NeoPixel, framebuffer, print) is passed in: board.py builds it. Nothing
# here blocks: LED and NeoPixel patterns are a function of the time since they started, so
# whoever calls tick() (a machine.Timer set up by board.py, and the app's loop) may call it
# late or often without changing the pattern.
from mailer.compat import const, once, ticks_add, ticks_diff, ticks_ms
from mailer.errors import meaning

# LED / NeoPixel timings in ms (the README's error table shows them): each blink is BLINK_ON
# lit then BLINK_OFF dark; after a digit's last blink the dark time is DIGIT_GAP instead, after
# the last digit CODE_GAP, then the code repeats. A digit 0 is ten blinks.
BLINK_ON = const(200)
BLINK_OFF = const(200)
DIGIT_GAP = const(800)
CODE_GAP = const(2000)
FLICKER = const(50)  # busy: FLICKER lit, FLICKER dark, repeated
SENT_ON = const(3000)  # sent: lit this long, then dark
SPIN_MS = const(125)  # display busy: the spinner's next frame after this long
_SPIN = "|/-\\"

# NeoPixel colours (r, g, b): dimmed, a full-power pixel is glaring at arm's length.
RED = (48, 0, 0)
BLUE = (0, 0, 48)
GREEN = (0, 48, 0)
OFF = (0, 0, 0)

_BUSY = ((1, FLICKER), (0, FLICKER))
_SENT = ((1, SENT_ON), (0, 0))
_IDLE = ((0, 0),)


def blink_steps(code):
    """[(level, ms)] for one round of a code's blink pattern; level 1 is lit."""
    steps = []
    digits = str(code)
    for i, d in enumerate(digits):
        steps += [(1, BLINK_ON), (0, BLINK_OFF)] * (int(d) or 10)
        steps[-1] = (0, CODE_GAP if i == len(digits) - 1 else DIGIT_GAP)
    return steps


class _Blinker:
    # Base of Led and Pixel: plays a pattern of (level, ms) steps, once or repeated; a
    # one-shot pattern holds its last level. Subclasses define _out(level, colour).
    def __init__(self, clock):
        self._clock = clock
        self.idle()

    def _play(self, steps, repeat, colour=OFF):
        self._steps = steps
        self._total = sum(ms for _, ms in steps)
        self._repeat = repeat
        self._colour = colour
        self._level = None  # write the first level even if it equals the old one
        self._t0 = self._clock()
        self.tick()

    def tick(self):
        t = ticks_diff(self._clock(), self._t0)
        if self._repeat and t >= self._total:
            # Move the start by whole rounds: ticks_diff is only valid over half the tick range.
            self._t0 = ticks_add(self._t0, t - t % self._total)
            t %= self._total
        left = -1
        for step in self._steps:
            if t < step[1]:
                left = step[1] - t
                break
            t -= step[1]
        level = step[0]  # a finished one-shot pattern holds its last step's level
        if level != self._level:
            self._level = level
            self._out(level, self._colour)
        return left

    def busy(self):
        self._play(_BUSY, True, BLUE)

    def sent(self, info=""):
        self._play(_SENT, False, GREEN)

    def error(self, code, text="", reply=None, when=None):
        self._play(blink_steps(code), True, RED)

    def idle(self):
        self._play(_IDLE, False)


class Led(_Blinker):
    # pin: anything with value(v): a machine.Pin.
    def __init__(self, pin, active_low=False, clock=ticks_ms):
        self.pin = pin
        self.active_low = active_low
        super().__init__(clock)

    def _out(self, level, colour):
        self.pin.value(level ^ self.active_low)


class Pixel(_Blinker):
    # np: neopixel.NeoPixel(pin, 1); pixel 0 shows the status.
    def __init__(self, np, clock=ticks_ms):
        self.np = np
        super().__init__(clock)

    def _out(self, level, colour):
        self.np[0] = colour if level else OFF
        self.np.write()


def wrap(s, width=16):
    """Words of s in lines of at most width characters; a longer word (a Message-ID) is split."""
    lines = []
    cur = ""
    for w in s.split():
        if cur and len(cur) + 1 + len(w) <= width:
            cur += " " + w
            continue
        if cur:
            lines.append(cur)
        while len(w) > width:
            lines.append(w[:width])
            w = w[width:]
        cur = w
    if cur:
        lines.append(cur)
    return lines


def reply_codes(reply):
    """ "535 5.7.8 ..." -> "535 5.7.8"; "421 busy" -> "421"; the RFC 3463 enhanced code
    as mailer.classify reads it from a reply line."""
    if not reply or not reply[:3].isdigit():
        return ""
    enh = once("classify", "enhanced", reply[4:].encode())  # a failure's own code: not on an idle heap
    return reply[:3] + " " + enh if enh else reply[:3]


def stamp(when, seconds=True):
    """(year, month, mday, hour, min, sec, ...) -> "2026-11-29 10:00:00"; "" for None."""
    if not when:
        return ""
    s = "%04d-%02d-%02d %02d:%02d" % tuple(when[:5])
    return s + (":%02d" % when[5] if seconds else "")


class Display:
    # fb: a 128x64 framebuf.FrameBuffer with show(): an ssd1306.SSD1306_I2C.
    # The built-in font is 8x8: 16 characters a line. Error screen rows (y): 0 "ERROR #839",
    # 11-38 the code's meaning in up to 4 lines, 47 the reply and enhanced codes, 56 the time.
    def __init__(self, fb, clock=ticks_ms):
        self.fb = fb
        self._clock = clock
        self._spin = None  # ticks when busy() began; None when not busy
        self.idle()

    def _screen(self, rows):
        fb = self.fb
        fb.fill(0)
        for y, s in rows:
            fb.text(s, 0, y, 1)
        fb.show()

    def busy(self):
        self._spin = self._clock()
        self._frame = -1
        self.tick()

    def sent(self, info=""):
        self._spin = None
        self._screen([(0, "SENT")] + [(12 + 9 * i, s) for i, s in enumerate(wrap(info)[:5])])

    def error(self, code, text="", reply=None, when=None):
        self._spin = None
        rows = [(0, "ERROR #%d" % code)]
        rows += [(11 + 9 * i, s) for i, s in enumerate(wrap(meaning(code))[:4])]
        codes = reply_codes(reply)
        if codes:
            rows.append((47, "Reply " + codes))
        rows.append((56, stamp(when, False)))
        self._screen(rows)

    def idle(self):
        self._spin = None
        self._screen(())

    def tick(self):
        # Busy: "Sending... |" with the spinner turning, as long as someone ticks (the asyncio
        # loop does during a send; the blocking one shows the first frame).
        if self._spin is None:
            return -1
        t = ticks_diff(self._clock(), self._spin)
        frame = t // SPIN_MS % len(_SPIN)
        if frame != self._frame:
            self._frame = frame
            self._screen(((28, "Sending... " + _SPIN[frame]),))
        return SPIN_MS - t % SPIN_MS


class Console:
    # One line per event, e.g. "#839 SMTP authentication failed (535 5.7.8 ...) at 2026-...".
    def __init__(self, out=print):
        self.out = out

    def busy(self):
        self.out("sending...")

    def sent(self, info=""):
        self.out(("sent " + info).strip())

    def error(self, code, text="", reply=None, when=None):
        s = "#%d %s" % (code, meaning(code))
        if text:
            s += ": " + text
        if reply:
            s += " (" + reply + ")"
        if when:
            s += " at " + stamp(when)
        self.out(s)

    def idle(self):
        pass

    def tick(self):
        return -1


class Fanout:
    # Several sinks shown at once (LED + console, ...); tick() returns the soonest change.
    def __init__(self, *sinks):
        self.sinks = sinks

    def busy(self):
        for s in self.sinks:
            s.busy()

    def sent(self, info=""):
        for s in self.sinks:
            s.sent(info)

    def error(self, code, text="", reply=None, when=None):
        for s in self.sinks:
            s.error(code, text, reply, when)

    def idle(self):
        for s in self.sinks:
            s.idle()

    def tick(self):
        soon = -1
        for s in self.sinks:
            left = s.tick()
            if left >= 0 and (soon < 0 or left < soon):
                soon = left
        return soon
