# The opening of an SMTP session: the greeting, EHLO (RFC 5321 4.1.1.1), STARTTLS (RFC 3207)
# and AUTH (RFC 4954), with the pure codec pieces only they use (the EHLO keywords, the SASL
# responses, CRAM-MD5 of RFC 2195). Steps of mailer.session (generators on a Session s: they
# yield what they need done). Session.open() imports this module and unloads it once the session
# is open: its code is off the heap while the messages go out.
import binascii
import hashlib

from mailer.codec import command
from mailer.compat import const
from mailer.errors import MailError, detail
from mailer.session import _refused

# Device error codes (mailer.codes; README, "Device error codes").
_COMM = const(801)  # error communicating with the SMTP server
_AUTH = const(839)  # SMTP authentication failed
_TLS_REQUIRED = const(862)  # encryption required but not available

# mailer.details' texts.
_NOT_B64 = const(12)
_NO_STARTTLS = const(13)
_NO_MECH = const(14)

_TLS = const(1)  # mailer.session's op: upgrade the connection

# Strongest first: a short-lived bearer token (RFC 7628 OAUTHBEARER, then XOAUTH2, which
# settings allow only with an smtp.oauth2 group) before any password; then CRAM-MD5, which never
# reveals the password, PLAIN with one round trip, LOGIN with two.
_STRENGTH = const((b"OAUTHBEARER", b"XOAUTH2", b"CRAM-MD5", b"PLAIN", b"LOGIN"))


def parse_ehlo(reply):
    # RFC 5321 4.1.1.1: the first line greets, each further line is "KEYWORD [params]",
    # words separated by spaces (servers put in more than one). Older servers announce AUTH
    # as "AUTH=PLAIN LOGIN" (before RFC 2554 was final), often beside an "AUTH" line: a
    # keyword given twice keeps the words of both.
    caps = {}
    for line in reply.lines[1:]:
        kw, _, params = line.partition(b" ")
        kw = kw.upper()
        if kw[:5] == b"AUTH=":
            kw, params = b"AUTH", kw[5:] + b" " + params
        if kw in caps:
            params = caps[kw] + b" " + params
        caps[kw] = params.strip()
    return caps


def choose_mechanism(offered, mechanisms):
    # offered: the EHLO AUTH parameter; mechanisms: the names the settings permit.
    names = offered.upper().split()
    for mech in _STRENGTH:
        if mech in names and mech.decode() in mechanisms:
            return mech
    return None


def b64(data):
    return binascii.b2a_base64(data)[:-1]


def unb64(data):
    try:
        return binascii.a2b_base64(data)
    except ValueError:
        raise MailError(_COMM, detail(_NOT_B64)) from None


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


def open(s):
    """The greeting, ehlo, starttls and login, as the TLS mode and credentials say."""
    yield from s._expect((220,), "greeting")  # RFC 5321 4.3.1
    yield from ehlo(s)
    yield from starttls(s)
    yield from login(s)


def ehlo(s):
    """EHLO (RFC 5321 4.1.1.1), HELO only when EHLO is not understood (a 5xx to it);
    returns the capabilities ({} after HELO)."""
    s.stage = "ehlo"
    yield s._cmd(command(b"EHLO", s.ehlo_name))
    r = yield from s._reply()
    if r.code == 250:
        s.caps = parse_ehlo(r)
        return s.caps
    if r.code < 500:
        raise _refused("ehlo", r)
    yield s._cmd(command(b"HELO", s.ehlo_name))
    yield from s._expect((250,), "ehlo")
    s.caps = {}
    return s.caps


def starttls(s):
    """STARTTLS (RFC 3207) when the TLS mode asks for it and the connection is not TLS
    yet, then EHLO again; returns the reply to STARTTLS, or None when none was sent."""
    if s.tls_mode not in ("required", "opportunistic") or s.conn.tls:
        return None
    s.stage = "starttls"
    if b"STARTTLS" not in s.caps:
        if s.tls_mode == "required":
            raise MailError(_TLS_REQUIRED, detail(_NO_STARTTLS), retry=False)
        return None
    yield s._cmd(b"STARTTLS\r\n")
    r = yield from s._reply()
    if r.code != 220:
        if s.tls_mode == "required":
            raise _refused("starttls", r)
        return r  # opportunistic: go on in clear, as the seed's "allow SSL" does
    s.stage = "handshake"
    # RFC 3207 4.2: forget everything learned before TLS and ask again. Forgotten before the
    # handshake, not after: the TLS socket is made in the room it leaves.
    s.caps = {}
    yield _TLS
    yield from ehlo(s)
    return r


def login(s):
    """AUTH (RFC 4954) with the strongest mechanism both sides allow; nothing without
    credentials. The password goes in clear only when allow_plain_password says so."""
    if s.user is None:
        return
    s.stage = "auth"
    s.conn.password_allowed(s.allow_plain)
    mech = choose_mechanism(s.caps.get(b"AUTH", b""), s.mechanisms)
    if mech is None:
        raise MailError(_AUTH, detail(_NO_MECH), retry=False)
    if mech in (b"XOAUTH2", b"OAUTHBEARER"):
        from mailer import oauth2  # only when the settings name an OAuth mechanism

        return (yield from oauth2.login(s, mech))
    if mech == b"PLAIN":
        # RFC 4954 4: the initial response saves a round trip. RFC 4616: authzid NUL authcid
        # NUL passwd.
        yield s._cmd(b"AUTH PLAIN " + b64(b"\0" + s.user + b"\0" + s.password) + b"\r\n", "AUTH PLAIN ***")
    elif mech == b"LOGIN":
        yield s._cmd(b"AUTH LOGIN " + b64(s.user) + b"\r\n", "AUTH LOGIN ***")
        yield from _challenge(s)
        yield s._cmd(b64(s.password) + b"\r\n", "***")
    else:
        yield s._cmd(b"AUTH CRAM-MD5\r\n")
        r = yield from _challenge(s)
        yield s._cmd(cram_md5(s.user, s.password, r.lines[0]) + b"\r\n", "***")
    yield from s._expect((235,), "auth")


def _challenge(s):
    r = yield from s._reply()
    if r.code != 334:
        raise _refused("auth", r)
    unb64(r.lines[0])  # a challenge that is not base64 is a broken server
    return r
