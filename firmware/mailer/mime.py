# MIME pieces for mailer.message: header folding and RFC 2047 encoded-words, quoted-printable
# text, RFC 5322 dates, input checks. Attachments are in mailer.attach.
from binascii import b2a_base64

from mailer.compat import const
from mailer.errors import SETTINGS, MailError

# RFC 5322 2.1.1: lines SHOULD be at most 78 characters (CRLF excluded).
LINE = const(78)
# RFC 2047 2: an encoded-word is at most 75 characters. 42 octets give 56 base64 characters,
# a 68-character word that fits after "Subject: " (or any shorter header name) on one line.
_EW_OCTETS = const(42)
# RFC 2045 6.7 (5): quoted-printable lines are at most 76 characters, the soft "=" included.
_QP_MAX = const(75)
# Three letters each (strings, not tuples of 19 objects: each object is heap on a board).
_DAYS = "SunMonTueWedThuFriSat"
_MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec"
# RFC 5322 3.2.3 atext (besides letters and digits): a display name made only of these and
# spaces goes as it is; anything else is encoded.
_ATEXT = "!#$%&'*+-/=?^_`{|}~ "


def date(t):
    # RFC 5322 3.3, always in UTC: "Sun, 29 Nov 2026 10:00:00 +0000". t: (y, m, d, H, M, S).
    y, m, d = t[0], t[1], t[2]
    # Sakamoto's weekday (0 = Sunday), so a stored date needs no weekday of its own.
    yy = y - (m < 3)
    wd = (yy + yy // 4 - yy // 100 + yy // 400 + b"\0\3\2\5\0\3\5\1\4\6\2\4"[m - 1] + d) % 7
    return (
        "%s, %02d %s %04d %02d:%02d:%02d +0000"
        % (_DAYS[3 * wd : 3 * wd + 3], d, _MONTHS[3 * m - 3 : 3 * m], y, t[3], t[4], t[5])
    ).encode()


def _plain(text, display_name):
    # Printable ASCII (only atext in a display name), words short enough to fold between, and
    # nothing a decoder would take for an encoded-word ("=?"), goes as it is.
    for c in text:
        if not " " <= c <= "~" or (display_name and not (c.isalpha() or c.isdigit() or c in _ATEXT)):
            return False
    # Leading, trailing or doubled spaces would be lost in unfolding: those go encoded too.
    words = text.split(" ")
    return "=?" not in text and "" not in words and max(len(w) for w in words) <= 70


def phrase(text, display_name=False):
    # Tokens (no spaces inside) for fold(): the words of text, or RFC 2047 B encoded-words
    # that never split a UTF-8 character (RFC 2047 5 (3)). Whitespace between adjacent
    # encoded-words is dropped by decoders (RFC 2047 6.2), so the words can be folded apart.
    if _plain(text, display_name):
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
        if not first and col + 1 + len(t) > LINE:
            out.append(b"\r\n")
            col = 0
        out.append(b" " + t)
        col += 1 + len(t)
        first = False
    out.append(b"\r\n")
    return b"".join(out)


def qp_line(line):
    # One text line (without its line break) as quoted-printable lines (RFC 2045 6.7):
    # "=" and non-printable octets as =XX, a space or tab at the end of the line too (rule 3),
    # soft breaks keep each line within 76 characters.
    out = bytearray()
    col = 0
    last = len(line) - 1
    for i, c in enumerate(line):
        n = 1 if (33 <= c <= 126 and c != 61) or (c in (9, 32) and i < last) else 3
        if col + n > _QP_MAX:
            out.extend(b"=\r\n")
            col = 0
        if n == 1:
            out.append(c)
        else:
            out.extend(b"=%02X" % c)
        col += n
    out.extend(b"\r\n")
    return bytes(out)


def check(field, value):
    # A CR, LF or NUL in a header value would let the caller add headers (header injection)
    # or, in an address, SMTP commands. The one check of text given to the firmware (messages
    # and settings, through mailer.schema); codec.command guards the wire again, in bytes.
    if not isinstance(value, str):
        raise MailError(SETTINGS, field + ": not a string")
    for bad in "\r\n\0":
        if bad in value:
            raise MailError(SETTINGS, field + ": CR/LF/NUL not allowed")
    return value


def token(field, value, extra):
    # Message-ID, boundary, domain and MIME type: ASCII letters, digits and a few marks only.
    check(field, value)
    if not value or len(value) > 250 or any(not (c.isalpha() or c.isdigit() or c in extra) or c > "~" for c in value):
        raise MailError(SETTINGS, "%s: not valid: %s" % (field, value))
    return value
