# An e-mail message (RFC 5322, MIME RFC 2045/2046) as a stream of byte chunks: headers, a
# UTF-8 text body and attachments read from flash and base64-encoded a chunk at a time, so
# RAM use does not grow with the attachments. Its exact size is known before sending.
import os
import time
from binascii import hexlify

from mailer import mime
from mailer.compat import clock_ok, const
from mailer.errors import CLOCK, SETTINGS, MailError
from mailer.mime import check, token

# RFC 5321 4.5.3.1.6: at most 998 octets per line before CRLF.
_MAX_LINE = const(998)
# Chunks handed to the session are at least this long (fewer writes), except the last one.
_CHUNK = const(512)
# Recipients per message: RFC 5321 4.5.3.1.8 has servers take at least 100 in one transaction.
MAX_RCPT = const(100)


def mailbox(field, text):
    # "Name <local@domain>", '"Doe, Jane" <local@domain>' or "local@domain" -> (display name,
    # address). One reading only: what a parser could read two ways (an "@", "<" or "(" in an
    # unquoted name, comments, groups: the CVE-2023-27043 class) is refused, and so are quoted
    # local parts and every control character (RFC 5322 3.2.3 specials, 3.4 addresses).
    s = check(field, text).strip()
    if any(c < " " or c == "\x7f" for c in text):
        raise MailError(SETTINGS, field + ": control character in address")
    name = ""
    bad = False
    if s.endswith(">") and s[0] == '"':
        # A quoted name is anything but a quote or a backslash (no quoted-pair: nothing needs
        # one), so the first quote after the opening one closes it.
        j = s.find('"', 1)
        name, s = s[1:j], s[j + 1 :].lstrip()
        bad = j < 0 or "\\" in name or s[:1] != "<"
        s = s[1:-1]
    elif s.endswith(">"):
        # An unquoted name is atoms and dots (RFC 5322 4.1 obs-phrase): no specials.
        i = s.find("<")
        name, s = s[:i].strip(), s[i + 1 : -1]
        bad = i < 0 or any(c in '"\\()<>[]:;@,' for c in name)
    local, _, domain = s.rpartition("@")
    bad = bad or not local or not domain or len(s.encode()) > 254 or "@" in local or ".." in domain
    if bad or domain[0] == "." or domain[-1] == "." or any(c in ' \t<>()[],;:"\\' for c in s):
        raise MailError(SETTINGS, "%s: not an address: %s" % (field, text))
    if len(name.encode()) > 200:
        raise MailError(SETTINGS, field + ": display name too long")
    return name, s


def _list(field, value):
    return [mailbox(field, a) for a in ([value] if isinstance(value, str) else value or ())]


class Message:
    """One e-mail. Addresses are "Name <a@b>" or "a@b" (the name may be non-ASCII); to, cc and
    bcc a str or a list. body: str or bytes (UTF-8), or a list of them, joined once here: a
    generator cannot be read twice (size, then chunks), and a body too large for RAM belongs in
    an attachment file. date: a time tuple as time.gmtime() gives, or seconds on the board's
    own epoch; None means now, refused with #843 when the clock was never set."""

    def __init__(
        self, sender, to, subject="", body="", cc=(), bcc=(), attachments=(), date=None, message_id=None, boundary=None
    ):
        self.given = (sender, to, cc, bcc)  # as given: the outbox stores these
        # Counted before parsing: a list of a million addresses is #861, not a MemoryError.
        if sum(1 if isinstance(v, str) else len(v or ()) for v in (to, cc, bcc)) > MAX_RCPT:
            raise MailError(SETTINGS, "too many recipients (at most %d)" % MAX_RCPT)
        self.sender = mailbox("from", sender)
        self.to, self.cc, self.bcc = _list("to", to), _list("cc", cc), _list("bcc", bcc)
        if not self.to + self.cc + self.bcc:
            raise MailError(SETTINGS, "no recipients")
        self.subject = check("subject", subject)
        self.body = _body(body)
        self.attachments = list(attachments)
        if self.attachments:
            from mailer.attach import Attachment  # loaded only for a message that has some

            for a in self.attachments:
                if not isinstance(a, Attachment):
                    raise MailError(SETTINGS, "attachments: not an Attachment")
        self.date = _date(date)
        if message_id is None:
            # RFC 5322 3.6.4: unique left of the "@" (time and 64 random bits), the sender's
            # domain right of it.
            message_id = "<%x.%s@%s>" % (
                int(time.time()),
                hexlify(os.urandom(8)).decode(),
                self.sender[1].rpartition("@")[2],
            )
        self.message_id = token("message_id", message_id, "<>@.-_$+=")
        if message_id[0] != "<" or message_id[-1] != ">" or "@" not in message_id:
            raise MailError(SETTINGS, "message_id: not <id@domain>: " + message_id)
        # "=_" cannot occur in base64 or quoted-printable text, and 128 random bits make it
        # as good as impossible in a 7bit/8bit body (RFC 2046 5.1.1).
        self.boundary = token("boundary", boundary or "=_" + hexlify(os.urandom(16)).decode(), "=_.-")
        self.envelope_from = self.sender[1].encode()
        addrs = [self.sender] + self.to + self.cc + self.bcc
        self._utf8 = [a for _, a in addrs if len(a.encode()) != len(a)]
        self.needs_smtputf8 = bool(self._utf8)
        # 7bit/8bit only with lines of at most 998 octets and no NUL (RFC 2045 2.7, 2.8).
        body = self.body
        ok = b"\0" not in body
        pos = 0
        while ok and pos < len(body):
            end = body.find(b"\n", pos)
            ok = end - pos <= _MAX_LINE
            pos = end + 1
        self.has_8bit = ok and bool(body) and max(body) > 127
        self._raw = ok
        # The envelope addresses still to be sent to (bytes), None for all: after a partial
        # delivery the outbox sets the deferred ones (RFC 5321 3.3: only they are retried).
        self.due = None

    def recipients(self):
        # The envelope: To, Cc and Bcc, each address once (compared without case), or of
        # those only the ones still due.
        out, seen = [], []
        for _, a in self.to + self.cc + self.bcc:
            if a.lower() not in seen and (self.due is None or a.encode() in self.due):
                seen.append(a.lower())
                out.append(a.encode())
        return out

    def check_addresses(self, smtputf8_offered):
        # RFC 6531: a non-ASCII address can only go to a server that offers SMTPUTF8.
        if self._utf8 and not smtputf8_offered:
            raise MailError(SETTINGS, "address not ASCII: " + self._utf8[0])

    def chunks(self, eightbit=False, smtputf8=False):
        # Byte chunks making up the message: CRLF line ends, lines of at most 998 octets, not
        # dot-stuffed (the session does that). eightbit: the server takes BODY=8BITMIME.
        self.check_addresses(smtputf8)
        return self._joined(eightbit)

    def _joined(self, eightbit):
        pend, n = [], 0
        for p in self._parts(eightbit, None):
            pend.append(p)
            n += len(p)
            if n >= _CHUNK:
                yield pend[0] if len(pend) == 1 else b"".join(pend)
                pend, n = [], 0
        if pend:
            yield b"".join(pend)

    def size(self, eightbit=False, smtputf8=False):
        # The exact length of chunks(): attachments counted from their sizes, never read.
        self.check_addresses(smtputf8)
        return sum(p if isinstance(p, int) else len(p) for p in self._parts(eightbit, False))

    def _parts(self, eightbit, buf):
        # buf: None to allocate the one read buffer when an attachment needs it, False when
        # only sizing (an attachment's encoded length is yielded as an int instead).
        yield mime.fold(b"From", _mailboxes([self.sender]))
        if self.to:
            yield mime.fold(b"To", _mailboxes(self.to))
        if self.cc:
            yield mime.fold(b"Cc", _mailboxes(self.cc))
        if self.subject:
            yield mime.fold(b"Subject", mime.phrase(self.subject))
        yield (
            b"Date: "
            + mime.date(self.date)
            + b"\r\nMessage-ID: "
            + self.message_id.encode()
            + b"\r\nMIME-Version: 1.0\r\n"
        )
        if self._raw and not self.has_8bit:
            cte = b"7bit"
        elif self._raw and eightbit:
            cte = b"8bit"
        else:
            cte = b"quoted-printable"
        text = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: " + cte
        if not self.attachments:
            yield text + b"\r\n\r\n"
            yield from self._body_lines(cte)
            return
        delim = b"\r\n--" + self.boundary.encode()
        yield (
            b'Content-Type: multipart/mixed; boundary="'
            + delim[4:]
            + b'"\r\n\r\n'
            + delim[2:]
            + b"\r\n"
            + text
            + b"\r\n\r\n"
        )
        yield from self._body_lines(cte)
        for a in self.attachments:
            # The CRLF before a delimiter belongs to it (RFC 2046 5.1.1): body and base64
            # both end with CRLF, so each part's content ends cleanly.
            yield delim + b"\r\n" + a.header() + b"\r\n"
            if buf is False:
                yield a.encoded_size()
            else:
                buf = buf or bytearray(a.READ)
                yield from a.encoded(buf)
        yield delim + b"--\r\n"

    def _body_lines(self, cte):
        body, pos = self.body, 0
        while pos < len(body):
            end = body.find(b"\n", pos)
            line = body[pos:end]
            pos = end + 1
            yield mime.qp_line(line) if cte == b"quoted-printable" else line + b"\r\n"


def _mailboxes(boxes):
    # An address list (RFC 5322 3.4) as fold() tokens: "name <addr>," per mailbox.
    out = []
    for name, addr in boxes:
        if name:
            out += mime.phrase(name, True)
            out.append(b"<" + addr.encode() + b">")
        else:
            out.append(addr.encode())
        out[-1] += b","
    out[-1] = out[-1][:-1]
    return out


def _body(body):
    # UTF-8 bytes with "\n" line ends (bare CR and CRLF too), ending with one if not empty.
    parts = body if isinstance(body, (list, tuple)) else [body]
    for p in parts:
        if not isinstance(p, (str, bytes, bytearray)):
            raise MailError(SETTINGS, "body: str, bytes or a list of them (not a generator)")
    body = b"".join(p.encode() if isinstance(p, str) else bytes(p) for p in parts)
    try:
        body.decode()
    except UnicodeError:
        raise MailError(SETTINGS, "body: not UTF-8") from None
    body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return body + b"\n" if body[-1:] not in (b"", b"\n") else body


def _date(date):
    if date is None:
        if not clock_ok():
            raise MailError(CLOCK, "clock not set")
        date = time.gmtime()
    elif isinstance(date, (int, float)):
        date = time.gmtime(date)
    try:
        t = tuple(int(x) for x in date[:6])
        if len(t) == 6 and 1 <= t[1] <= 12 and 1 <= t[2] <= 31 and t[3] < 24 and t[4] < 60 and t[5] < 61:
            return t
    except (TypeError, ValueError):
        pass
    raise MailError(SETTINGS, "date: not a time tuple: %r" % (date,))
