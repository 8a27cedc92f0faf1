# Runs ON THE MICROPYTHON UNIX PORT for bench/run.py, the firmware loaded from .mpy files.
# sys.argv: [settings.json]. Reads one command per line on stdin and answers one line each:
#   W1 PORT            one short text message
#   W2 PORT PATH       one message with PATH as attachment
#   W3 PORT            20 short messages in one session
#   W0 PORT            nothing: the heap a board idles with between sends: mailer.client and
#                      mailer.message imported, as the board's app has them, and the settings
#                      loaded (done at start); the session and transport modules load when a
#                      message is sent
#   S0 PORT            nothing sent: the bytes the loaded settings hold, measured on a second
#                      load (the names the first one interned stay): "ok 0 BYTES 0"
#   A1 PORT / A2 PORT PATH   W1 / W2 through the awaitable send (mailer.aclient.adeliver), a
#                      10 ms ticker task beside it; answer "ok MS GAP TICKS": the longest gap
#                      between two ticks (ms) during the whole send, and the ticks counted
# with "mem" appended: sample the live GC heap (gc.collect(), then gc.mem_alloc()) at every
# command, reply and message chunk. Answer: "ok MS PEAK BASE" (PEAK, BASE: bytes, 0 unless
# sampled) or "err LINE". The time covers making the messages and the whole session.
import gc
import sys
import time

from mailer import client
from mailer.compat import once
from mailer.message import Message  # imported with the others, as the board's app has it

BODY = "Hello from the bench.\nA short text message, one recipient.\n"


class Heap:
    def __init__(self, on):
        self.on = on
        self.peak = 0

    def sample(self, *_):
        if self.on:
            gc.collect()
            self.peak = max(self.peak, gc.mem_alloc())

    def chunks(self, it):
        for c in it:
            self.sample()
            yield c


def messages(cfg, item, path, heap):
    mail = cfg["mail"]
    n = 20 if item == "W3" else 1
    atts = ()
    if path:  # only W2 loads the attachment code, as a board's program that sends none
        from mailer.attach import Attachment

        atts = [Attachment(path=path)]
    out = []
    for i in range(n):
        m = Message(mail["from"], mail["to"], subject="bench %s %d" % (item, i), body=BODY, attachments=atts)
        if heap.on:
            inner = m.chunks
            m.chunks = lambda eightbit=False, smtputf8=False, buf=None, inner=inner: heap.chunks(
                inner(eightbit, smtputf8, buf)
            )
        out.append(m)
    return out


def run(cfg, line):
    words = line.split()
    item, port = words[0], int(words[1])
    if item == "W0":
        return "ok 0 0 0"
    if item == "S0":
        gc.collect()
        base = gc.mem_alloc()
        held = once("settings", "load", sys.argv[1])
        gc.collect()
        n = gc.mem_alloc() - base
        del held
        return "ok 0 %d 0" % n
    path = words[2] if item[1] == "2" else None
    heap = Heap(words[-1] == "mem")
    cfg["smtp"]["port"] = port
    gc.collect()
    base = gc.mem_alloc() if heap.on else 0
    t0 = time.ticks_us()
    msgs = messages(cfg, item, path, heap)
    if item[0] == "A":
        from mp_awork import asend  # the asyncio part: not on the heap of W0-W3

        results, gap, ticks = asend(cfg, msgs)
        heap.peak, base = gap, ticks
    else:
        results = client.deliver(cfg, msgs, log=heap.sample if heap.on else None)
    us = time.ticks_diff(time.ticks_us(), t0)
    for r in results:
        if not r.ok:
            return "err " + r.line()
    return "ok %.3f %d %d" % (us / 1000, heap.peak, base)


def main():
    # As the board's app (mailer.app) loads them: the settings module for the load only.
    cfg = once("settings", "load", sys.argv[1])
    while True:
        line = sys.stdin.readline()
        if not line.strip():
            return
        print(run(cfg, line))


main()
