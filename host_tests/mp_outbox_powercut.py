# Runs ON THE MICROPYTHON UNIX PORT (host_tests/test_outbox_powercut.py): the outbox on a
# LittleFS2 device cut after every possible number of block writes (powercut_rig), during
# argv[1] = "add" (send() accepting message C) or "deliver" (a round in which A is delivered,
# B fails for now, C for good, and D reaches one of its two recipients, the other deferred).
# After each cut a fresh mount and a new Outbox (a reboot) report where each message is: "A=q"
# queued, "A=f" failed/, "A=-" gone, "A=2" in both; D also how many recipients are due ("D=q:1").
import sys

from mailer.client import Result
from mailer.codes import COMM
from mailer.errors import MailError
from mailer.message import Message
from mailer.outbox import Outbox
from powercut_rig import sweep

LIMITS = {"max_messages": 10, "max_bytes": 65536, "retry_base_s": 30, "retry_max_s": 3600}


def msg(subject):
    to = ["ops@example.com", "boss@example.com"] if subject == "D" else "ops@example.com"
    return Message(
        "board@example.com",
        to,
        subject,
        subject * 300,
        date=(2026, 11, 29, 10, 0, 0),
        message_id="<%s@example.com>" % subject,
    )


def where(root):
    ob = Outbox(root + "/outbox", LIMITS, clock=lambda: 1000)
    seen = {}
    for failed in (False, True):
        for n in ob.names(failed):
            m = ob.message(n, failed)  # a half-written message (or state) would fail here
            s = m.subject
            seen[s] = "2" if s in seen else "f" if failed else "q"
            if s == "D":
                seen[s] += ":%d" % len(m.recipients())
    return " ".join("%s=%s" % (s, seen.get(s, "-")) for s in "ABCD")


def setup(root):
    ob = Outbox(root + "/outbox", LIMITS, clock=lambda: 1000)
    ob.add(msg("A"))
    ob.add(msg("B"))
    if MODE == "deliver":
        ob.add(msg("C"))
        ob.add(msg("D"))
    return where(root)


def fake_send(msgs):
    out = []
    for m in msgs:
        if m.subject == "A":
            out.append(Result(m.message_id, reply="250 2.0.0 queued"))
        elif m.subject == "D":
            out.append(
                Result(
                    m.message_id, reply="250 2.0.0 queued", refused=[(b"boss@example.com", "451 4.2.0 mailbox busy")]
                )
            )
        else:
            reply = "451 4.3.0 try later" if m.subject == "B" else "550 5.1.1 no such user"
            out.append(Result(m.message_id, error=MailError(COMM, reply=reply)))
    return out


def op(root):
    ob = Outbox(root + "/outbox", LIMITS, clock=lambda: 1000)
    if MODE == "add":
        ob.add(msg("C"))
    else:
        ob.deliver(fake_send)
    return where(root)


MODE = sys.argv[1]
sweep(setup, op, where)
