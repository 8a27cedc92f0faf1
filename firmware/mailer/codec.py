# SMTP wire codec: pure functions and small state machines, bytes in and bytes out, no I/O.
# RFC 5321 (SMTP). The opening's pieces (EHLO keywords, SASL) are in mailer.handshake; the RFC
# 3463 enhanced codes of a reply are read by mailer.classify, which only a failure loads.
from mailer.compat import const
from mailer.errors import MailError, detail

# Device error codes (mailer.codes; README, "Device error codes").
_COMM = const(801)  # error communicating with the SMTP server
_SETTINGS = const(861)  # settings invalid / bad input

# RFC 5321 4.5.3.1.5 allows 512 octets per reply line (CRLF included); we hold no more.
_MAX_LINE = const(512)
# A reply of more lines than this is a broken or hostile server, not a capability list (an EHLO
# reply has one line per extension: a dozen or so, and IANA registers about 30). 50, not 100:
# the list that holds them then grows to 64 slots at most, not 128 (one piece of 256 bytes on a
# board, not 512).
_MAX_LINES = const(50)
# ...and so is one whose lines add up to more than this: the bound on what a reply may hold
# in RAM (100 full lines would be 51 KB, most of a board's free heap).
_MAX_REPLY = const(4096)

_CRLF = const(b"\r\n")

# mailer.details' texts: "bad reply: ..." (0-6), then the command check's.
_LONG = const(0)
_NO_CRLF = const(1)
_NO_CODE = const(2)
_NOT_ASCII = const(3)
_NOT_3 = const(4)
_CHANGED = const(5)
_TOO_LONG = const(6)
_INJECT = const(7)  # ": CR/LF/NUL not allowed"


def command(verb, value=None):
    if value is None:
        return verb + _CRLF
    if isinstance(value, str):
        value = value.encode()
    # A CR, LF or NUL inside a command argument would let the caller inject commands.
    for bad in (b"\r", b"\n", b"\0"):
        if bad in value:
            raise MailError(_SETTINGS, verb.decode() + detail(_INJECT))
    return verb + b" " + value + _CRLF


class Reply:
    def __init__(self, code, lines):
        self.code = code  # int, e.g. 250
        self.lines = lines  # list of bytes, text after the code and separator

    def line(self):
        # The first line as the user sees it: "535 5.7.8 Authentication credentials invalid".
        text = self.lines[0] if self.lines else b""
        return ("%d %s" % (self.code, text.decode())).rstrip()


def _bad(n):
    return MailError(_COMM, detail(n))


class ReplyReader:
    # Collects reply bytes as they arrive and yields complete replies. It never holds more
    # than one partial line plus the lines of the reply being read, each at most MAX_LINE.
    # Lines are taken from buf at pos, not cut off its front: one copy of what is left per
    # read instead of one per line, so a reply of many lines leaves no trail of copies in
    # the heap (near the heap's edge a trail like that was what failed).
    def __init__(self):
        self.buf = b""
        self.pos = 0  # where the next line starts in buf
        self.lines = []
        self.code = None
        self.held = 0  # octets in self.lines

    def feed(self, data):
        # pop() after every feed: it refuses an overlong line, so buf stays under
        # MAX_LINE plus one read.
        self.buf = self.buf[self.pos :] + data if self.pos < len(self.buf) else data
        self.pos = 0

    def pending(self):
        # Bytes received past the last complete reply (STARTTLS injection check, RFC 3207 6).
        return len(self.buf) - self.pos

    def pop(self):
        # Returns a Reply once one is complete, otherwise None (feed more bytes).
        buf = self.buf
        while True:
            start = self.pos
            i = buf.find(b"\n", start)
            if i < 0:
                # A complete reply may leave a long unended tail behind it in the same read:
                # refuse it now, not at the next feed, so no more than one line is ever held.
                if len(buf) - start >= _MAX_LINE:
                    raise _bad(_LONG)
                return None
            if i + 1 - start > _MAX_LINE:
                raise _bad(_LONG)
            if i == start or buf[i - 1] != 13:
                raise _bad(_NO_CRLF)
            line = buf[start : i - 1]
            self.pos = i + 1
            if len(line) < 3 or not line[:3].isdigit() or line[0] not in b"2345":
                raise _bad(_NO_CODE)
            for c in line:
                if c < 32 or c > 126:
                    raise _bad(_NOT_ASCII)
            code = int(line[:3])
            sep = line[3:4]
            if sep not in (b" ", b"-", b""):
                raise _bad(_NOT_3)
            if self.code is not None and code != self.code:
                raise _bad(_CHANGED)
            self.code = code
            self.lines.append(line[4:])
            self.held += len(line)
            if len(self.lines) > _MAX_LINES or self.held > _MAX_REPLY:
                raise _bad(_TOO_LONG)
            if sep != b"-":
                r = Reply(code, self.lines)
                self.lines = []
                self.code = None
                self.held = 0
                return r


def stuffed(chunk, bol):
    # Message text to DATA wire form (RFC 5321 4.5.2): a line starting with "." gets another
    # ".". chunk: bytes with CRLF line ends throughout (mailer.message makes them so; a CR/LF
    # cut between two chunks is still CRLF), not empty; bol: whether it starts a line (the
    # previous chunk ended with LF). One scan of each chunk, and none copied that has no line
    # to stuff (base64 parts, most text).
    if b"\n." in chunk:
        chunk = chunk.replace(b"\n.", b"\n..")
    return b"." + chunk if bol and chunk[0] == 46 else chunk  # 46: "."
