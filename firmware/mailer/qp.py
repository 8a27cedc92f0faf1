# Quoted-printable (RFC 2045 6.7), one text line at a time: the body encoding of a message whose
# text cannot go as it is (mailer.message loads this module for that body only).
from mailer.compat import const

# RFC 2045 6.7 (5): quoted-printable lines are at most 76 characters, the soft "=" included.
_QP_MAX = const(75)


def encode_line(line):
    # One text line (without its line break) as quoted-printable lines, CRLF-ended: "=" and
    # non-printable octets as =XX, a space or tab at the end of the line too (rule 3), soft
    # breaks keep each line within 76 characters.
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
