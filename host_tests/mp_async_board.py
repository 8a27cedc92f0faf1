# Runs ON THE MICROPYTHON UNIX PORT (the simulated board's modules on the path), in a folder
# holding settings.json and board.json (with "asyncio": true): main.py's app.run(task) hands the
# loop to mailer.aapp, and task (a blocking one, called every turn) queues one message with an
# attachment (sys.argv[1], four times) on the first turn; a 10 ms asyncio ticker counts what it can while
# the outbox task delivers it. Prints "ticks N" (ticks during the send), "spinner N" (display
# frames shown during it), then the result, and ends the loop with SystemExit.
import asyncio
import sys

from mailer import app, status

ATTACHMENT = sys.argv[1]
seen = {"ticks": 0, "busy": False, "frames": set(), "turns": 0}


class Frames:
    # A framebuffer that notes the busy screen's spinner frames as they are shown.
    def fill(self, c):
        self.rows = []

    def text(self, s, x, y, c):
        self.rows.append(s)

    def show(self):
        for r in self.rows:
            if r.startswith("Sending..."):
                seen["frames"].add(r)


class Watch:
    # A status sink that tells when the send starts and ends, and ends the loop after it.
    def busy(self):
        seen["busy"] = True

    def sent(self, info=""):
        self._done("sent " + info)

    def error(self, code, text="", reply=None, when=None):
        self._done("#%d %s" % (code, text))

    def _done(self, line):
        if seen["busy"]:
            print("ticks %d" % seen["ticks"])
            print("spinner %d" % len(seen["frames"]))
            print(line)
            raise SystemExit(0)

    def idle(self):
        pass

    def tick(self):
        return -1


async def ticker():
    while True:
        await asyncio.sleep_ms(10)
        if seen["busy"]:
            seen["ticks"] += 1


def task():
    a = app.get()
    seen["turns"] += 1
    if seen["turns"] == 1:
        a.status = status.Fanout(a.status, status.Display(Frames()), Watch())
        asyncio.create_task(ticker())
        a.clock_ok = True  # the host's clock is set: no NTP
        # Four times the attachment: the send lasts several spinner frames (125 ms each) even
        # on a fast machine (one 1 MiB copy once went out in 110 ms, within a single frame).
        name, res = a.queue("Async board", "Sent by the outbox task.\n", attachments=[ATTACHMENT] * 4)
        print("queued", name, res)


app.run(task)
