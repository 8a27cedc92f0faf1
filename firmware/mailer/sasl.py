# The two SASL exchanges of SMTP AUTH (RFC 4954) that take a challenge: CRAM-MD5 (RFC 2195),
# which never reveals the password, and LOGIN (two base64 prompts). A step of mailer.handshake's
# login, loaded only when one of them is the mechanism: PLAIN (one round trip, no challenge) and
# the OAuth ones (mailer.oauth2) never put this code on the heap.
import binascii
import hashlib

from mailer.compat import const
from mailer.errors import MailError
from mailer.handshake import b64
from mailer.session import _refused

_COMM = const(801)  # device error code: error communicating with the SMTP server (mailer.codes)


def unb64(data):
    try:
        return binascii.a2b_base64(data)
    except ValueError:
        raise MailError(_COMM, "challenge is not base64") from None


def hmac_md5(key, data):
    # RFC 2104; MicroPython has no hmac module.
    if len(key) > 64:
        key = hashlib.md5(key).digest()
    key = key + b"\0" * (64 - len(key))
    inner = hashlib.md5(bytes(k ^ 0x36 for k in key) + data).digest()
    return hashlib.md5(bytes(k ^ 0x5C for k in key) + inner).digest()


def cram_md5(user, password, challenge):
    # RFC 2195: "user hex(hmac_md5(password, challenge))", base64-encoded.
    digest = binascii.hexlify(hmac_md5(password, unb64(challenge)))
    return b64(user + b" " + digest)


def login(s, mech):
    """AUTH LOGIN or AUTH CRAM-MD5 on session s, up to the server's 334 for the last response
    (handshake.login then waits for the 235)."""
    if mech == b"LOGIN":
        yield s._cmd(b"AUTH LOGIN " + b64(s.user) + b"\r\n", "AUTH LOGIN ***")
        yield from _challenge(s)
        yield s._cmd(b64(s.password) + b"\r\n", "***")
    else:
        yield s._cmd(b"AUTH CRAM-MD5\r\n")
        r = yield from _challenge(s)
        yield s._cmd(cram_md5(s.user, s.password, r.lines[0]) + b"\r\n", "***")


def _challenge(s):
    r = yield from s._reply()
    if r.code != 334:
        raise _refused("auth", r)
    unb64(r.lines[0])  # a challenge that is not base64 is a broken server
    return r
