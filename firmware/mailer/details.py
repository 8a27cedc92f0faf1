# The detail texts of the failures the send path finds (MailError.detail: "bad reply: line too
# long"), by number, loaded only when one happens (mailer.errors.detail). In the modules that
# raise them they were some 16 strings of their own on a board's heap for the whole send, small
# pieces that near the heap's edge split the holes the send needs (32-bit: with them gone a 1 MiB
# attachment needed about 1.75 KiB less heap). Each raiser names its numbers as private consts.
from mailer.compat import const

_TEXTS = const(
    (
        "bad reply: ",  # 0: mailer.codec
        "line too long",  # 1
        "line not ended by CRLF",  # 2
        "no reply code",  # 3
        "code not three digits",  # 4
        "code changed within a reply",  # 5
        "reply too long",  # 6
        ": CR/LF/NUL not allowed",  # 7
        "data injected before TLS handshake",  # 8: mailer.transport
        "deadline passed",  # 9
        "refusing to send the password without TLS",  # 10
        "connection closed by server during ",  # 11: mailer.session
        "reply not asked for, before ",  # 12
        "challenge is not base64",  # 13: mailer.handshake
        "server does not offer STARTTLS",  # 14
        "no AUTH mechanism in common",  # 15
        "not ASCII",  # 16: mailer.codec
    )
)


def text(n):
    return _TEXTS[n]
