# POP3 login (RFC 1939) for POP before SMTP and for checking the incoming account, over STLS
# (RFC 2595) or implicit TLS (RFC 8314). Every failure is #810, except bad input (#861); the
# password never appears in a log line or an error text.
import binascii
import hashlib

from mailer import codec
from mailer.compat import const, once
from mailer.errors import MailError

# Device error codes (mailer.codes; README, "Device error codes").
_POP = const(810)  # POP server error
_SETTINGS = const(861)  # settings invalid / bad input

# RFC 1939 3: a response line is at most 512 octets, CRLF included; we hold no more.
_MAX_LINE = const(512)
# RFC 2449 8.1.1 and RFC 3206 4: -ERR codes meaning "not now" rather than "wrong password".
_TEMPORARY = (b"[IN-USE]", b"[LOGIN-DELAY]", b"[SYS/TEMP]")


def _text(line):
    # Server text for a display or log: printable ASCII only, whatever the server sent.
    return bytes(c if 32 <= c < 127 else 63 for c in line).decode()  # 63: "?"; no chr(): compat.alnum_or


def _as_pop(e, stage):
    # A transport failure (network #801, resolve #802, certificate #863, clock #843, ...)
    # becomes #810 with the original code in the text; its retry verdict stays.
    if e.code in (_POP, _SETTINGS):
        return e
    return MailError(_POP, "%s: %s" % (stage, e.line()), retry=e.retry)


class _Pop:
    def __init__(self, conn, log=None):
        self.conn = conn
        self.buf = b""
        self.stage = "greeting"
        self.log = log  # callable(str) or None: the dialogue, the password as ***

    def send(self, cmd):
        if self.log:
            shown = cmd.decode().rstrip()
            if shown[:4] in ("PASS", "APOP"):
                shown = shown[:4] + (" " + shown.split()[1] if shown[:4] == "APOP" else "") + " ***"
            self.log("C: " + shown)
        self.conn.write(cmd)

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                break
            if len(self.buf) >= _MAX_LINE:
                i = len(self.buf)
                break
            data = self.conn.read(_MAX_LINE)
            if not data:
                raise MailError(_POP, "connection closed by server during " + self.stage)
            self.buf += data
        if i + 2 > _MAX_LINE:
            raise MailError(_POP, "reply line over 512 octets during " + self.stage, retry=False)
        line, self.buf = self.buf[:i], self.buf[i + 2 :]
        if self.log:
            self.log("S: " + _text(line))
        return line

    def ok(self, cmd=None, stage=None):
        # Sends cmd (if any), returns the +OK line; -ERR raises #810.
        if stage:
            self.stage = stage
        if cmd:
            self.send(cmd)
        line = self.line()
        if line[:3] == b"+OK":
            return line
        retry = self.stage != "login"
        for code in _TEMPORARY:
            retry = retry or code in line
        raise MailError(_POP, "%s refused" % self.stage, reply=_text(line), retry=retry)


def _timestamp(greeting):
    # RFC 1939 7: an APOP-capable server ends its greeting with a msg-id "<...@...>".
    start = greeting.find(b"<")
    end = greeting.find(b">", start)
    if start < 0 or end < 0 or b"@" not in greeting[start:end]:
        return None
    return greeting[start : end + 1]


def login(conn, user, password, tls_mode, allow_plain_password=False, apop=True, log=None):
    """Log in on conn (a transport.Conn, just connected) as user/password (bytes) and QUIT.

    tls_mode: "off" | "starttls" (STLS required: no credentials without it) | "implicit"
    (conn is TLS already). Raises MailError(_POP) with retry=False for a refused login."""
    p = _Pop(conn, log)
    try:
        greeting = p.ok()
        if tls_mode == "starttls" and not conn.tls:
            # STLS without asking CAPA first (RFC 2595 4 allows it): a server without STLS
            # answers -ERR, and the answer is the same if a man in the middle stripped it.
            p.stage = "stls"
            p.send(b"STLS\r\n")
            if p.line()[:3] != b"+OK":
                raise MailError(_POP, "server does not offer STLS", retry=False)
            conn.starttls(len(p.buf))
        stamp = _timestamp(greeting) if apop else None
        if stamp:
            # APOP sends MD5(timestamp + password), never the password. MD5 is weak: anyone
            # who sees the exchange can try a dictionary offline; but it is what seed-era
            # servers offer, and it is why APOP is allowed in clear (tls_mode "off").
            digest = binascii.hexlify(hashlib.md5(stamp + password).digest())
            p.ok(codec.command(b"APOP", user + b" " + digest), "login")
        else:
            conn.password_allowed(allow_plain_password)
            p.ok(codec.command(b"USER", user), "login")
            p.ok(codec.command(b"PASS", password), "login")
    except MailError as e:
        raise _as_pop(e, p.stage) from None
    try:
        # RFC 1939 6: QUIT ends the session cleanly (mailbox unlocked). Whatever the answer,
        # the login has already counted, so a failure here is not one.
        p.send(b"QUIT\r\n")
        p.line()
    except MailError:
        pass


def pop_before_smtp(server, timeout_ms, deadline, tls_cfg, allow_plain_password=False, log=None):
    """Log in to server (host, port, tls mode, user, password: the resolved incoming group)
    and log out, so that the SMTP server lets this address send.

    The POP3 server's certificate is checked as tls_cfg says (the smtp group's verify, CA and
    pin: a pin therefore only fits when both servers present the same certificate). APOP
    only in clear: over TLS, USER/PASS works everywhere, while a greeting's timestamp does
    not prove APOP works for this account (servers that store password hashes cannot check
    it)."""
    host, port, tls, user, password = server
    try:
        conn = once("dial", "connect", host, port, timeout_ms, deadline, tls_cfg, implicit_tls=tls == "implicit")
    except MailError as e:
        raise _as_pop(e, "connect") from None
    try:
        login(conn, user or b"", password, tls, allow_plain_password, apop=tls == "off", log=log)
    finally:
        conn.close()
