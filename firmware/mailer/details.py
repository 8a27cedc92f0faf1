# The detail texts of the failures the send path finds (MailError.detail: "bad reply: line too
# long"), by number, loaded only when one happens (mailer.errors.detail), each whole so that a
# failure loads this module once. In the modules that raise them they were 16 strings of their
# own on a board's heap for the whole send, small pieces that near the heap's edge split the
# holes the send needs (32-bit: one message then needed 0.75 KiB less heap, a 1 MiB attachment
# 1 KiB less). Each raiser names its numbers as private consts; host_tests/test_session.py
# checks every one against its text.
from mailer.compat import const

_TEXTS = const(
    (
        "bad reply: line too long",  # 0: mailer.codec
        "bad reply: line not ended by CRLF",  # 1
        "bad reply: no reply code",  # 2
        "bad reply: not ASCII",  # 3
        "bad reply: code not three digits",  # 4
        "bad reply: code changed within a reply",  # 5
        "bad reply: reply too long",  # 6
        ": CR/LF/NUL not allowed",  # 7
        "deadline passed",  # 8: mailer.transport
        "refusing to send the password without TLS",  # 9
        "connection closed by server during ",  # 10: mailer.session
        "reply not asked for, before ",  # 11
        "challenge is not base64",  # 12: mailer.handshake
        "server does not offer STARTTLS",  # 13
        "no AUTH mechanism in common",  # 14
    )
)


def text(n):
    return _TEXTS[n]
