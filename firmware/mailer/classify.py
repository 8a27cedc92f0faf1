# Device error codes for what the other modules cannot judge on the spot: a server's reply that
# was not the one wanted (by the stage the session had reached, the basic code and the RFC 3463
# enhanced code), a socket or TLS exception (by its text as well as its errno, which differ
# between the Unix port, ESP32 and CPython), and any other exception. A module that knows its
# failure exactly (a setting that is bad, a clock not set, STARTTLS not offered) raises its
# MailError itself. Imported only after a failure.
from mailer.compat import const
from mailer.errors import MailError

# Device error codes (mailer.codes; README, "Device error codes").
_COMM = const(801)  # error communicating with the SMTP server
_AUTH = const(839)  # SMTP authentication failed
_TLS_NO_COMMON = const(841)  # no encryption method in common
_TLS_CLIENT_CERT = const(842)  # server asked for a client certificate
_MEMORY = const(851)  # not enough memory
_SETTINGS = const(861)  # settings invalid / bad input
_TLS_REQUIRED = const(862)  # encryption required but not available
_CERT = const(863)  # server certificate rejected
_TOO_LARGE = const(864)  # message too large
_OAUTH = const(866)  # OAuth token refused (the refresh grant)
_INTERNAL = const(869)  # internal error

# Words in TLS error texts (Mbed TLS names and messages, OpenSSL reasons), lower case.
_CLIENT_CERT_WORDS = ("certificate_required", "certificate required", "alert 116")
_CERT_WORDS = (
    "verif",  # MBEDTLS_ERR_X509_CERT_VERIFY_FAILED, CERTIFICATE_VERIFY_FAILED
    "signed",  # "not correctly signed by the trusted CA", "self-signed certificate"
    "expected cn",  # "Common Name (CN) does not match with the expected CN"
    "hostname mismatch",
    "expired",
    "in the future",
    "issuer",
    "x509",
    "invalid cert",
)
_NET_WORDS = ("timed out", "timeout", "eof", "closed")
# A reset or a broken pipe in the middle of the handshake: the server has put an end to it
# (as servers that demand a client certificate do, on TLS 1.2 and 1.3): a verdict, not the
# network. Errnos as on Linux and lwIP; texts as CPython words them.
_ABORT_WORDS = ("reset", "broken pipe")
_ABORT_ERRNOS = (32, 104)  # EPIPE, ECONNRESET
# A server that answers a ClientHello in clear (its SMTP greeting): tls "implicit" on a port
# that speaks STARTTLS. Mbed TLS and OpenSSL words for a record that is not TLS.
_CLEAR_WORDS = ("invalid_record", "wrong version number", "record layer failure", "unknown protocol")
_HINT_STARTTLS = 'the server answered in clear: this port speaks STARTTLS, use tls "required"'
_HINT_IMPLICIT = 'no greeting: a port that expects TLS at once (465) needs tls "implicit"'
_TIMEOUT_ERRNOS = (11, 110, 116)  # EAGAIN, ETIMEDOUT (Linux), ETIMEDOUT (lwIP)
_ENOMEM = const(12)


def network_error(exc, what):
    # A time-out, reset or refused connection: worth retrying; what: "connect", "read",
    # "write", or "first" (the first read or write over TLS: see tls_error).
    if isinstance(exc, MailError):
        return exc
    if what == "first":
        return tls_error(exc, True)
    n = exc.args[0] if exc.args else None
    if (n in _TIMEOUT_ERRNOS) or "timed out" in str(exc):
        return MailError(_COMM, what + " timed out")
    return MailError(_COMM, "%s failed: %s" % (what, exc))


def _has(text, words):
    for w in words:
        if w in text:
            return True
    return False


def _text(exc):
    # Mbed TLS errors are OSError(-30592, 'MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE'), which
    # MicroPython prints as a tuple: show "NAME (-30592)". Its certificate texts come with
    # line breaks ("\nThe certificate is not correctly signed...\n"): one line on a display.
    a = exc.args
    if len(a) == 2 and isinstance(a[0], int) and a[0] < 0 and isinstance(a[1], str):
        return "%s (%d)" % (a[1], a[0])
    return " ".join(str(exc).split())


def tls_error(exc, first=False):
    # A failure of the handshake, or (first) of the first read or write after it: a TLS 1.3
    # client finishes its side before the server has checked the client's certificate, and
    # the server's alert 116, or its reset, arrives there, a reset often as an EOF (OpenSSL).
    msg = _text(exc)
    text = msg.lower()
    if _has(text, _CLIENT_CERT_WORDS):
        return MailError(_TLS_CLIENT_CERT, msg)
    if _has(text, _CERT_WORDS):
        return MailError(_CERT, msg)
    if _has(text, _CLEAR_WORDS):
        return MailError(_TLS_NO_COMMON, "%s (%s)" % (_HINT_STARTTLS, msg), retry=False)
    n = exc.args[0] if exc.args else None
    if n == _ENOMEM or "alloc" in text or "memory" in text:
        return MailError(_MEMORY, "TLS: " + msg)
    if n in _TIMEOUT_ERRNOS:
        return MailError(_COMM, "TLS handshake timed out")
    if n in _ABORT_ERRNOS or _has(text, _ABORT_WORDS) or (first and "eof" in text):
        # No stack here says whether a CertificateRequest came before the abort: #841.
        return MailError(_TLS_NO_COMMON, "handshake aborted by the server: " + msg, retry=False)
    if _has(text, _NET_WORDS):
        return MailError(_COMM, "TLS handshake: " + msg)
    if isinstance(n, int) and n > 0 and "alert" not in text:
        # A plain errno (the peer went away) is a network failure, not a TLS verdict; an
        # OpenSSL error (CPython) carries errno 1 and the peer's alert ("handshake failure",
        # "protocol version"): that is a verdict.
        return MailError(_COMM, "TLS handshake: " + msg)
    return MailError(_TLS_NO_COMMON, msg)


def enhanced(text):
    # RFC 3463 class.subject.detail at the start of a reply's text, or None.
    part = text.split(b" ", 1)[0]
    bits = part.split(b".")
    if len(bits) == 3 and part[:1] in (b"2", b"4", b"5"):
        for b in bits:
            if not b or not b.isdigit() or len(b) > 3:
                return None
        return part.decode()
    return None


def reply_error(stage, reply):
    # A reply the session did not want, at `stage` ("greeting", "ehlo", "starttls", "auth",
    # "mail", "rcpt", "data", "final"). 4xx is temporary (RFC 5321 4.2.1): retry.
    code = reply.code
    line = reply.line()
    ext = enhanced(reply.lines[0] if reply.lines else b"") or ""
    if stage == "greeting":
        # No command was sent yet: whatever the code (421, 554, a 530 "authentication
        # required" as a banner), the server will not talk to us now (RFC 5321 3.1, 4.3.1).
        return MailError(_COMM, reply=line)
    if code == 538 or (code == 530 and b"STARTTLS" in line.upper().encode()):
        return MailError(_TLS_REQUIRED, reply=line, retry=False)  # RFC 4954 6, RFC 3207 4
    if stage == "starttls" and code != 421:  # 421: the server is going away, not refusing TLS
        return MailError(_TLS_REQUIRED, reply=line, retry=False)
    if (stage == "auth" and code >= 500) or code == 530 or ext.startswith("5.7.8"):
        return MailError(_AUTH, reply=line, retry=False)  # 534, 535, 530 auth required
    if (code == 552 and stage in ("mail", "final")) or ext == "5.3.4":
        return MailError(_TOO_LARGE, reply=line, retry=False)
    return MailError(_COMM, reply=line, retry=code < 500)


def exception(exc, stage):
    # Anything that escaped the session: give it a code, never let it escape the send.
    if isinstance(exc, MailError):
        if stage == "greeting" and exc.code == _COMM and exc.reply is None and "timed out" in exc.detail:
            exc.detail += ": " + _HINT_IMPLICIT
        return exc
    if isinstance(exc, MemoryError):
        return MailError(_MEMORY, "out of memory during " + stage)
    if isinstance(exc, OSError):
        return network_error(exc, stage)
    return MailError(_INTERNAL, "%s during %s: %r" % (type(exc).__name__, stage, exc))


def in_step(e):
    # Whether, after failure e (a MailError this module made or passed on), the server is still
    # in step with us (it answered, or nothing was sent yet): then mailer.client's QUIT ends the
    # session as RFC 5321 4.1.1.10 asks; after a network or TLS failure, or bytes injected
    # before TLS, the connection is only closed.
    if e.reply is not None:
        return e.reply[:3] != "421"  # a 421 closes the channel (RFC 5321 3.8)
    return e.code in (_SETTINGS, _TOO_LARGE, _AUTH, _TLS_REQUIRED, _OAUTH) and "injected" not in e.detail
