# MailError: how every failure the client can detect reaches its caller, as one device error code
# (mailer.codes names them; README, "Device error codes") with a readable detail.
from mailer.compat import const, once

_COMM = const(801)  # error communicating with the SMTP server: retried unless the reply is 5xx
# Codes worth retrying whatever the reply (802 resolve, 810 POP, 843 clock, 851 memory,
# 860 network, 865 outbox full); 801 depends on the reply (4xx/network: yes).
_RETRY = const((_COMM, 802, 810, 843, 851, 860, 865))


def meaning(code):
    """The text of a device error code ("SMTP authentication failed"), or "?". The texts are
    in mailer.codes, loaded only when one is shown: a send that works never needs them."""
    try:
        from mailer.codes import TEXTS
    except MemoryError:  # showing #851 with no heap left: the code alone must do
        return "?"
    i = TEXTS.find("\n%d " % code)
    if i < 0:
        return "?"
    return TEXTS[i + 5 : TEXTS.find("\n", i + 1)]


def detail(n):
    """Detail text n of mailer.details, the module loaded for the call only: the texts of
    failures stay off the heap of a send that works. "[detail n]" when there is no heap for it."""
    try:
        return once("details", "text", n)
    except MemoryError:
        return "[detail %d]" % n


class MailError(Exception):
    # code: device error code; detail: readable text; reply: the server's reply line
    # (str, or None); retry: whether trying again later may succeed.
    def __init__(self, code, detail="", reply=None, retry=None):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail
        self.reply = reply
        if retry is None:
            retry = code in _RETRY and not (reply and reply[:1] > "4")  # not after a 5xx
        self.retry = retry

    def line(self):
        # "#839 SMTP authentication failed (535 5.7.8 ...)": what consoles and tools print.
        s = "#%d %s" % (self.code, meaning(self.code))
        extra = self.reply or self.detail
        return "%s (%s)" % (s, extra) if extra else s

    __str__ = line  # one function, not a second that calls it
