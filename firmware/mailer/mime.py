# Composing a message (RFC 5322, MIME RFC 2045/2047): the checks of what it is given (strict
# addresses, CR/LF/NUL), header folding and RFC 2047 encoded-words, RFC 5322 dates, and build(),
# which turns Message()'s arguments into what a send needs: the envelope and the header block as
# bytes. Imported for the making of a message and unloaded after it (compat.unload): its code
# is not on the heap while the message is sent. The body and attachments stream from
# mailer.message and mailer.attach.
import os
import time
from binascii import b2a_base64, hexlify

from mailer.compat import alnum_or, clock_ok, const
from mailer.errors import MailError

# Device error codes (mailer.codes; README, "Device error codes").
_CLOCK = const(843)  # device clock not set / too far off
_SETTINGS = const(861)  # settings invalid / bad input

# RFC 5322 2.1.1: lines SHOULD be at most 78 characters (CRLF excluded).
_LINE = const(78)
# RFC 2047 2: an encoded-word is at most 75 characters. 42 octets give 56 base64 characters,
# a 68-character word that fits after "Subject: " (or any shorter header name) on one line.
_EW_OCTETS = const(42)
# Three letters each (strings, not tuples of 19 objects: each object is heap on a board).
_DAYS = const("SunMonTueWedThuFriSat")
_MONTHS = const("JanFebMarAprMayJunJulAugSepOctNovDec")
# RFC 5322 3.2.3 atext (besides letters and digits): a display name made only of these and
# spaces goes as it is; anything else is encoded. Text is tested through its bytes
# (compat.alnum_or says why).
_ATEXT = const(b"!#$%&'*+-/=?^_`{|}~ ")
# RFC 5321 4.5.3.1.6: at most 998 octets per line before CRLF.
_MAX_LINE = const(998)
# Recipients per message: RFC 5321 4.5.3.1.8 has servers take at least 100 in one transaction.
_MAX_RCPT = const(100)  # schema.py keeps the same bound

# File name extension and MIME type, one per line: one string, not a dict of 28 strings (each
# an object on a board's heap when loaded from .mpy).
_TYPES = const(""")
txt text/plain
log text/plain
csv text/csv
html text/html
json application/json
pdf application/pdf
zip application/zip
gz application/gzip
jpg image/jpeg
jpeg image/jpeg
png image/png
gif image/gif
bmp image/bmp
""")


def date(value):
    # RFC 5322 3.3, always in UTC: "Sun, 29 Nov 2026 10:00:00 +0000". value: (y, m, d, H, M, S).
    y, m, d = value[0], value[1], value[2]
    # Sakamoto's weekday (0 = Sunday), so a stored date needs no weekday of its own.
    yy = y - (m < 3)
    wd = (yy + yy // 4 - yy // 100 + yy // 400 + b"\0\3\2\5\0\3\5\1\4\6\2\4"[m - 1] + d) % 7
    return (
        "%s, %02d %s %04d %02d:%02d:%02d +0000"
        % (_DAYS[3 * wd : 3 * wd + 3], d, _MONTHS[3 * m - 3 : 3 * m], y, value[3], value[4], value[5])
    ).encode()


def _plain(text, name):
    # Printable ASCII (only atext in a display name), words short enough to fold between, and
    # nothing a decoder would take for an encoded-word ("=?"), goes as it is.
    b = text.encode()
    if name and not alnum_or(b, _ATEXT) or not _printable(b):
        return False
    # Leading, trailing or doubled spaces would be lost in unfolding: those go encoded too.
    words = text.split(" ")
    return "=?" not in text and "" not in words and max(len(w) for w in words) <= 70


def phrase(text, name=False):
    # Tokens (no spaces inside) for fold(): the words of text, or RFC 2047 B encoded-words
    # that never split a UTF-8 character (RFC 2047 5 (3)). Whitespace between adjacent
    # encoded-words is dropped by decoders (RFC 2047 6.2), so the words can be folded apart.
    if _plain(text, name):
        return [w.encode() for w in text.split(" ")]
    b = text.encode()
    out = []
    i = 0
    while i < len(b):
        j = min(i + _EW_OCTETS, len(b))
        while j < len(b) and b[j] & 0xC0 == 0x80:  # continuation byte: cut before its lead
            j -= 1
        out.append(b"=?utf-8?B?" + b2a_base64(b[i:j], newline=False) + b"?=")
        i = j
    return out


def fold(name, tokens):
    # One header field, folded (RFC 5322 2.2.3) before a token that would pass column 78.
    # A token is never split, so a line passes 78 only for a token longer than that (an
    # address); never 998, as tokens are bounded by the checks in mailer.message.
    out = [name, b":"]
    col = len(name) + 1
    first = True
    for t in tokens:
        if not first and col + 1 + len(t) > _LINE:
            out.append(b"\r\n")
            col = 0
        out.append(b" " + t)
        col += 1 + len(t)
        first = False
    out.append(b"\r\n")
    return b"".join(out)


def _printable(b):
    # Printable ASCII only (b: bytes).
    for c in b:
        if not 32 <= c <= 126:
            return False
    return True


def check(key, value):
    # A CR, LF or NUL in a header value would let the caller add headers (header injection)
    # or, in an address, SMTP commands. The one check of text given to the firmware (messages
    # and settings, through mailer.schema); codec.command guards the wire again, in bytes.
    if not isinstance(value, str):
        raise MailError(_SETTINGS, key + ": not a string")
    if "\r" in value or "\n" in value or "\0" in value:
        raise MailError(_SETTINGS, key + ": CR/LF/NUL not allowed")
    return value


def token(key, value, extra):
    # Message-ID, boundary, domain and MIME type: ASCII letters, digits and a few marks only.
    check(key, value)
    if not value or len(value) > 250 or not alnum_or(value.encode(), extra):
        raise MailError(_SETTINGS, "%s: not valid: %s" % (key, value))
    return value


def mailbox(key, text):
    # "Name <local@domain>", '"Doe, Jane" <local@domain>' or "local@domain" -> (display name,
    # address). One reading only: what a parser could read two ways (an "@", "<" or "(" in an
    # unquoted name, comments, groups: the CVE-2023-27043 class) is refused, and so are quoted
    # local parts and every control character (RFC 5322 3.2.3 specials, 3.4 addresses).
    s = check(key, text).strip()
    if any(c < 32 or c == 127 for c in text.encode()):
        raise MailError(_SETTINGS, key + ": control character in address")
    name = ""
    bad = False
    if s.endswith(">") and s[:1] == '"':
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
        bad = i < 0 or any(c in b'"\\()<>[]:;@,' for c in name.encode())
    local, _, domain = s.rpartition("@")
    bad = bad or not local or not domain or len(s.encode()) > 254 or "@" in local or ".." in domain
    if bad or domain[:1] == "." or domain[-1:] == "." or any(c in b' \t<>()[],;:"\\' for c in s.encode()):
        raise MailError(_SETTINGS, "%s: not an address: %s" % (key, text))
    if len(name.encode()) > 200:
        raise MailError(_SETTINGS, key + ": display name too long")
    return name, s


def _list(key, value):
    # A tuple, not a list: an empty one is a constant (a board's message with no Cc or Bcc
    # then keeps no empty lists on the heap) and a full one has no spare slots.
    return tuple(mailbox(key, a) for a in ([value] if isinstance(value, str) else value or ()))


def _mailboxes(items):
    # An address list (RFC 5322 3.4) as fold() tokens: "name <addr>," per mailbox.
    out = []
    for name, addr in items:
        if name:
            out += phrase(name, True)
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
            raise MailError(_SETTINGS, "body: str, bytes or a list of them (not a generator)")
    body = b"".join(p.encode() if isinstance(p, str) else bytes(p) for p in parts)
    try:
        body.decode()
    except UnicodeError:
        raise MailError(_SETTINGS, "body: not UTF-8") from None
    body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return body + b"\n" if body[-1:] not in (b"", b"\n") else body


def _date(date):
    if date is None:
        if not clock_ok():
            raise MailError(_CLOCK, "clock not set")
        date = time.gmtime()
    elif isinstance(date, (int, float)):
        date = time.gmtime(date)
    try:
        t = tuple(int(x) for x in date[:6])
        if len(t) == 6 and 1 <= t[1] <= 12 and 1 <= t[2] <= 31 and t[3] < 24 and t[4] < 60 and t[5] < 61:
            return t
    except (TypeError, ValueError):
        pass
    raise MailError(_SETTINGS, "date: not a time tuple: %r" % (date,))


def build(self, sender, to, subject, body, cc, bcc, attachments, when, message_id, boundary):
    # Message()'s arguments checked and set on self, the Message (see mailer.message.Message).
    self.given = (sender, to, cc, bcc)  # as given: the outbox stores these
    # Counted before parsing: a list of a million addresses is #861, not a MemoryError.
    if sum(1 if isinstance(v, str) else len(v or ()) for v in (to, cc, bcc)) > _MAX_RCPT:
        raise MailError(_SETTINGS, "too many recipients (at most %d)" % _MAX_RCPT)
    self.sender = mailbox("from", sender)
    self.to, self.cc, self.bcc = _list("to", to), _list("cc", cc), _list("bcc", bcc)
    if not self.to + self.cc + self.bcc:
        raise MailError(_SETTINGS, "no recipients")
    self.subject = check("subject", subject)
    self.body = _body(body)
    self.attachments = tuple(attachments)
    if self.attachments:
        from mailer.attach import Attachment  # loaded only for a message that has some

        for a in self.attachments:
            if not isinstance(a, Attachment):
                raise MailError(_SETTINGS, "attachments: not an Attachment")
    self.date = _date(when)
    if message_id is None:
        # RFC 5322 3.6.4: unique left of the "@" (time and 64 random bits), the sender's
        # domain right of it.
        message_id = "<%x.%s@%s>" % (
            int(time.time()),
            hexlify(os.urandom(8)).decode(),
            self.sender[1].rpartition("@")[2],
        )
    self.message_id = token("message_id", message_id, b"<>@.-_$+=")
    if message_id[:1] != "<" or message_id[-1:] != ">" or "@" not in message_id:
        raise MailError(_SETTINGS, "message_id: not <id@domain>: " + message_id)
    # "=_" cannot occur in base64 or quoted-printable text, and 128 random bits make it
    # as good as impossible in a 7bit/8bit body (RFC 2046 5.1.1).
    self.boundary = token("boundary", boundary or "=_" + hexlify(os.urandom(16)).decode(), b"=_.-")
    self.envelope_from = self.sender[1].encode()
    self.utf8 = tuple(a for _, a in (self.sender,) + self.to + self.cc + self.bcc if len(a.encode()) != len(a))
    # 7bit/8bit only with lines of at most 998 octets and no NUL (RFC 2045 2.7, 2.8).
    body = self.body
    ok = b"\0" not in body
    pos = 0
    while ok and pos < len(body):
        end = body.find(b"\n", pos)
        ok = end - pos <= _MAX_LINE
        pos = end + 1
    self.has_8bit = ok and bool(body) and max(body) > 127
    self.raw = ok
    head = [fold(b"From", _mailboxes([self.sender]))]
    if self.to:
        head.append(fold(b"To", _mailboxes(self.to)))
    if self.cc:
        head.append(fold(b"Cc", _mailboxes(self.cc)))
    if self.subject:
        head.append(fold(b"Subject", phrase(self.subject)))
    head.append(
        b"Date: " + date(self.date) + b"\r\nMessage-ID: " + self.message_id.encode() + b"\r\nMIME-Version: 1.0\r\n"
    )
    self.head = b"".join(head)


def attachment(self, path, data, name, mime_type):
    # Attachment(path, data, name, mime_type) checked, and its part header (RFC 2045, RFC 2183),
    # the file name quoted or RFC 2231-encoded; the file is only looked at (#861 if missing).
    if (path is None) == (data is None):
        raise MailError(_SETTINGS, "attachment: give path or data")
    if data is not None and not isinstance(data, (str, bytes, bytearray)):
        raise MailError(_SETTINGS, "attachment: data is not bytes")
    self.path = path
    self.data = data.encode() if isinstance(data, str) else data
    if path is not None:
        name = name or check("attachment path", path)[path.rfind("/") + 1 :]
        self.size()  # fail now, with #861, if the file is missing
    self.name = name = check("attachment name", name or "")
    if not name or len(name.encode()) > 200:
        raise MailError(_SETTINGS, "attachment name missing or too long")
    if not mime_type:  # from the name's extension (_TYPES)
        dot = name.rfind(".")
        i = _TYPES.find("\n%s " % name[dot + 1 :].lower()) if dot >= 0 else -1
        if i < 0:
            mime_type = "application/octet-stream"
        else:
            i = _TYPES.index(" ", i)
            mime_type = _TYPES[i + 1 : _TYPES.index("\n", i)]
    self.mime_type = token("mime_type", mime_type, b"/+-.")
    b = name.encode()
    if len(b) == len(name) and _printable(b):
        param = b'filename="' + b.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    else:  # RFC 2231 4: a non-ASCII file name, percent-encoded UTF-8
        param = b"filename*=utf-8''" + b"".join(
            bytes((c,)) if alnum_or(bytes((c,)), b"-._~") else b"%%%02X" % c for c in b
        )
    self.head = (
        b"Content-Type: "
        + self.mime_type.encode()
        + b"\r\nContent-Transfer-Encoding: base64\r\n"
        + fold(b"Content-Disposition", [b"attachment;", param])
    )
