# Device error codes (see README, "Device error codes"): every failure the client can
# detect maps to exactly one of these. Three digits, so an LED can blink them.
from mailer.compat import const

COMM = const(801)  # error communicating with the SMTP server
RESOLVE = const(802)  # server name cannot be resolved
POP = const(810)  # POP server error
AUTH = const(839)  # SMTP authentication failed
TLS_NO_COMMON = const(841)  # no encryption method in common
TLS_CLIENT_CERT = const(842)  # server asked for a client certificate
CLOCK = const(843)  # device clock not set / too far off
MEMORY = const(851)  # not enough memory
NETWORK = const(860)  # network not connected
SETTINGS = const(861)  # settings invalid / bad input
TLS_REQUIRED = const(862)  # encryption required but not available
CERT = const(863)  # server certificate rejected
TOO_LARGE = const(864)  # message too large
OUTBOX_FULL = const(865)  # outbox full
OAUTH = const(866)  # OAuth token refused (the refresh grant)
INTERNAL = const(869)  # internal error


def meaning(code):
    """The text of a device error code ("SMTP authentication failed"), or "?". The texts are
    in mailer.meanings, loaded only when one is shown: a send that works never needs them."""
    try:
        from mailer.meanings import TEXTS
    except MemoryError:  # showing #851 with no heap left: the code alone must do
        return "?"
    i = TEXTS.find("\n%d " % code)
    if i < 0:
        return "?"
    return TEXTS[i + 5 : TEXTS.find("\n", i + 1)]


# Codes worth retrying whatever the reply; COMM depends on the reply (4xx/network: yes).
_RETRY = (COMM, RESOLVE, POP, CLOCK, MEMORY, NETWORK, OUTBOX_FULL)


class MailError(Exception):
    # code: device error code; detail: readable text; reply: the server's reply line
    # (str, or None); retry: whether trying again later may succeed.
    def __init__(self, code, detail="", reply=None, retry=None):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail
        self.reply = reply
        if retry is None:
            retry = code in _RETRY and not (reply and reply[:1] == "5")
        self.retry = retry

    def line(self):
        # "#839 SMTP authentication failed (535 5.7.8 ...)": what consoles and tools print.
        s = "#%d %s" % (self.code, meaning(self.code))
        extra = self.reply or self.detail
        if extra:
            s += " (" + extra + ")"
        return s

    def __str__(self):
        return self.line()
