# The probe (README, "Checking a server"): what a user needs to fix their settings, one line
# per step of the session, each with the device code it fails with. Not on the sending path:
# imported only by `make probe` (tools/probe.py) or by hand on a board:
#   from mailer import probe, settings; probe.run(settings.load())
# Two connections: the first looks (greeting, EHLO before and after TLS, TLS version and
# cipher where the port tells them, the server's certificate, AUTH mechanisms) without
# checking the certificate or logging in; the second is the real session as the settings say
# (certificate check, AUTH), ended before MAIL: its verdict is the code a send would get.
import binascii
import hashlib

from mailer import classify, handshake, transport
from mailer.client import Client
from mailer.compat import deadline, once
from mailer.errors import MailError
from mailer.session import Session

# The code each step fails with (README error table).
STEPS = (
    ("connect", "#802 name, #801 refused or timed out"),
    ("greeting", "#801"),
    ("ehlo", "#801"),
    ("starttls", "#862"),
    ("tls", "#841, #842 client certificate"),
    ("certificate", "#863, #843 clock"),
    ("auth", "#839, #862 password in clear"),
)
_NAMES = {b"\x55\x04\x03": "CN", b"\x55\x04\x0a": "O", b"\x55\x04\x0b": "OU", b"\x55\x04\x06": "C"}


def _tlv(der, i):
    # DER (X.690 8.1): tag, length (short or long form), content -> (tag, start, end).
    tag, n = der[i], der[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(bytes(der[i : i + k]), "big")
        i += k
    return tag, i, i + n


def _children(der, start, end):
    out = []
    while start < end:
        t = _tlv(der, start)
        out.append(t)
        start = t[2]
    return out


def _name(der, a, b):
    # Name (RFC 5280 4.1.2.4): SEQUENCE OF SET OF SEQUENCE {type OID, value}.
    parts = []
    for _, sa, sb in _children(der, a, b):
        for _, qa, qb in _children(der, sa, sb):
            oid, val = _children(der, qa, qb)[:2]
            key = _NAMES.get(bytes(der[oid[1] : oid[2]]))
            if key:
                parts.append(key + "=" + bytes(der[val[1] : val[2]]).decode())
    return ", ".join(parts)


def _time(der, t):
    # UTCTime YYMMDDHHMMSSZ (50-99: 19xx, RFC 5280 4.1.2.5.1) or GeneralizedTime YYYYMMDD...
    s = bytes(der[t[1] : t[2]]).decode()
    if t[0] == 0x17:
        s = ("19" if int(s[:2]) >= 50 else "20") + s
    return "%s-%s-%s %s:%s:%s UTC" % (s[:4], s[4:6], s[6:8], s[8:10], s[10:12], s[12:14])


def cert_info(der):
    """subject, issuer, not_before, not_after and sha256 (hex, what smtp.pin_sha256 takes) of
    a DER certificate (RFC 5280 4.1: the fields in TBSCertificate's order)."""
    tbs = _tlv(der, _tlv(der, 0)[1])
    f = _children(der, tbs[1], tbs[2])
    if f[0][0] == 0xA0:  # [0] version, absent in v1 certificates
        f = f[1:]
    valid = _children(der, f[3][1], f[3][2])
    return {
        "subject": _name(der, f[4][1], f[4][2]),
        "issuer": _name(der, f[2][1], f[2][2]),
        "not_before": _time(der, valid[0]),
        "not_after": _time(der, valid[1]),
        "sha256": binascii.hexlify(hashlib.sha256(der).digest()).decode(),
    }


def _caps(caps):
    return " ".join((k + b" " + v).strip().decode() for k, v in caps.items()) or "(none: HELO)"


def _tls(conn, out):
    # What the handshake showed: the connection checks nothing (verify "off"; the second
    # connection gives the verdict) and keeps the server's certificate as conn.leaf.
    sock = conn.sock
    # CPython: version() and cipher(); MicroPython 1.23+: cipher() only (mbedTLS's suite
    # name, e.g. TLS1-3-AES-256-GCM-SHA384, which names the version too).
    ver = sock.version() + ", " if hasattr(sock, "version") else ""
    out("tls", ver + (sock.cipher()[0] if hasattr(sock, "cipher") else "(this port does not tell the cipher)"))
    der = conn.leaf
    if not der:
        out("certificate", "(this port does not show it)")
    else:
        c = cert_info(der)
        out("certificate", "subject %s; issuer %s" % (c["subject"], c["issuer"]))
        out("certificate", "valid %s to %s" % (c["not_before"], c["not_after"]))
        out("certificate", "sha256 " + c["sha256"])


def look(c, out):
    # c: the Client of the settings; its connection and session, without the checks.
    conn = s = None
    stage = "connect"
    try:
        conn = once(
            "dial", "connect", c.host, c.port, c.timeout_ms, deadline(c.deadline_ms), transport.TlsConfig("off")
        )
        out("connect", "%s:%d" % (c.host, c.port))
        if c.tls == "implicit":
            stage = "tls"
            conn.starttls()
            _tls(conn, out)
        s = Session(conn, c.ehlo_name, "opportunistic" if c.tls != "off" else "off")
        stage = "greeting"
        out(stage, s.run(s._expect((220,), "greeting")).line())
        stage = "ehlo"
        out(stage, _caps(s.run(handshake.ehlo(s))))
        if not conn.tls and c.tls != "off" and b"STARTTLS" in s.caps:
            stage = "starttls"
            r = s.run(handshake.starttls(s))
            out(stage, r.line())
            if r.code != 220:
                raise classify.reply_error(stage, r)
            _tls(conn, out)
            out("ehlo", "after TLS: " + _caps(s.caps))
        offered = s.caps.get(b"AUTH", b"").decode()
        mech = handshake.choose_mechanism(s.caps.get(b"AUTH", b""), c.mechanisms)
        out(
            "auth",
            "offered: %s; allowed: %s; would use: %s"
            % (offered or "(none)", " ".join(c.mechanisms), mech.decode() if mech else "none"),
        )
        s.run(s.quit())
    except Exception as e:  # the probe reports; it never stops with a traceback
        if s and s.stage == "handshake":
            stage = "tls"
        out(stage, "FAILED " + classify.exception(e, stage).line())
        if conn:
            conn.close()


def verdict(c):
    """The real session as the settings say, up to AUTH: None, or the MailError of a send."""
    s = None
    try:
        s = c.session()
        s.run(s.open())
        s.run(s.quit())
        return None
    except Exception as e:
        if s:
            s.conn.close()
        return classify.exception(e, s.stage if s else "connect")


def run(cfg, out=print):
    """Print the probe for settings cfg; returns the verdict (None: a send would get through
    to MAIL)."""
    for step, codes in STEPS:
        out("%-11s fails with %s" % (step, codes))
    out("")

    def line(step, text):
        out("%-11s %s" % (step, text))

    try:
        c = Client(cfg)
    except MailError as e:
        line("settings", "FAILED " + e.line())
        return e
    look(c, line)
    err = verdict(c)
    line("verdict", "ok: certificate, TLS and login as the settings say" if err is None else err.line())
    return err
