# Network edge: TCP and TLS on MicroPython (ssl, or ussl on older firmware) and CPython.
# Every wait is bounded by the per-read time-out and by the send's overall deadline.
import binascii
import errno
import hashlib
import socket
import time

import select

from mailer import classify
from mailer.compat import MIN_YEAR, const
from mailer.errors import CERT, CLOCK, COMM, RESOLVE, SETTINGS, MailError

try:
    import ssl
except ImportError:  # MicroPython before 1.23
    import ussl as ssl  # type: ignore

_IPPROTO_TCP = const(6)
_TCP_NODELAY = const(1)


def load_ca(path):
    # MicroPython's mbedTLS takes DER only; accept PEM too by decoding the base64 body.
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        raise MailError(SETTINGS, "smtp.ca_file: cannot read " + path) from None
    if data[:10] == b"-----BEGIN":
        body = b"".join(ln for ln in data.split(b"\n") if ln and ln[:5] != b"-----")
        data = binascii.a2b_base64(body)
    return data


class TlsConfig:
    # verify: "ca" (cadata is the CA's DER), "pin" (pin is a SHA-256 hex of the server's
    # certificate) or "off"; hostname: what the certificate must name (RFC 6125).
    def __init__(self, hostname, verify="ca", cadata=None, pin=None):
        self.hostname = hostname
        self.verify = verify
        self.cadata = cadata
        self.pin = pin.replace(":", "").lower() if pin else None


def tls_config(smtp, host, tls):
    # The certificate check the settings' smtp group asks for, for `host` reached with `tls`.
    verify = smtp["verify"] if tls != "off" else "off"
    cadata = load_ca(smtp["ca_file"]) if verify == "ca" else None
    return TlsConfig(host, verify, cadata, smtp.get("pin_sha256"))


class Conn:
    def __init__(self, sock, timeout_ms, deadline, tls_cfg):
        self.raw = sock
        self.sock = sock
        self.timeout_ms = timeout_ms
        self.deadline = deadline
        self.tls_cfg = tls_cfg
        self.tls = False
        self.leaf = None  # server certificate (DER) seen during the handshake, for pinning

    def _arm(self):
        t = min(self.timeout_ms, self.deadline.left_ms())
        if t <= 0:
            raise MailError(COMM, "deadline passed")
        self.raw.settimeout(t / 1000)

    def read(self, n=512):
        # Returns at most n bytes; b"" means the server closed the connection.
        self._arm()
        try:
            if self.tls and not hasattr(self.sock, "recv"):
                return self.sock.read(n) or b""
            return self.sock.recv(n)
        except OSError as e:
            raise classify.network_error(e, "read") from None

    def write(self, data):
        self._arm()
        try:
            if hasattr(self.sock, "sendall"):
                self.sock.sendall(data)
            else:
                mv = memoryview(data)
                while mv:
                    n = self.sock.write(mv)
                    mv = mv[n:]
        except OSError as e:
            raise classify.network_error(e, "write") from None

    def _keep_leaf(self, cert, depth):
        if depth == 0:
            self.leaf = bytes(cert)
        return 0  # the pin, not the chain, decides

    def starttls(self):
        cfg = self.tls_cfg
        if cfg.verify == "ca" and time.gmtime()[0] < MIN_YEAR:
            raise MailError(CLOCK, "clock not set: certificate dates cannot be checked")
        self._arm()
        try:
            if hasattr(ssl, "SSLContext"):
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                if cfg.verify == "ca":
                    ctx.verify_mode = ssl.CERT_REQUIRED
                    ctx.load_verify_locations(cadata=cfg.cadata)
                elif cfg.pin and hasattr(getattr(ctx, "_context", None), "verify_callback"):
                    # MicroPython's TLS socket has no getpeercert(): take the server's own
                    # certificate (depth 0) as mbedTLS walks the chain.
                    ctx._context.verify_callback = self._keep_leaf
                    ctx.verify_mode = ssl.CERT_OPTIONAL
                else:
                    if hasattr(ctx, "check_hostname"):
                        ctx.check_hostname = False  # CPython wants this before CERT_NONE
                    ctx.verify_mode = ssl.CERT_NONE
                self.sock = ctx.wrap_socket(self.raw, server_hostname=cfg.hostname)
            else:
                req = ssl.CERT_REQUIRED if cfg.verify == "ca" else ssl.CERT_NONE
                self.sock = ssl.wrap_socket(
                    self.raw, server_hostname=cfg.hostname, cert_reqs=req, cadata=cfg.cadata
                )
        except (OSError, ValueError) as e:
            raise classify.tls_error(e) from None
        if hasattr(self.sock, "settimeout"):
            # CPython's wrap_socket detaches the plain socket: time-outs go on the TLS one.
            # MicroPython's TLS socket has no settimeout; its plain socket keeps working.
            self.raw = self.sock
        self.tls = True
        if cfg.pin:
            der = self.leaf or self.sock.getpeercert(True)
            got = binascii.hexlify(hashlib.sha256(der).digest()).decode()
            if got != cfg.pin:
                raise MailError(CERT, "certificate fingerprint differs from the pinned one")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass  # already gone; nothing to release


def connect(host, port, timeout_ms, deadline, tls_cfg, implicit_tls=False):
    # Non-blocking connect with poll: on ESP32 a blocking connect() ignores settimeout.
    try:
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    except OSError as e:
        raise MailError(RESOLVE, "%s: %s" % (host, e)) from None
    sock = socket.socket(ai[0], socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        try:
            sock.connect(ai[-1])
        except OSError as e:
            if e.args[0] not in (errno.EINPROGRESS, errno.EAGAIN):
                raise
        p = select.poll()
        p.register(sock, select.POLLOUT)
        ev = p.poll(max(0, min(timeout_ms, deadline.left_ms())))
        if not ev:
            raise MailError(COMM, "connect to %s:%d timed out" % (host, port))
        if ev[0][1] & (select.POLLERR | select.POLLHUP):
            raise MailError(COMM, "connection to %s:%d refused" % (host, port))
        sock.setblocking(True)
        try:
            # Small flights are written whole; Nagle would only add delayed-ACK stalls.
            sock.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)
        except OSError:
            pass  # not every port has it; a missing option costs latency, not correctness
    except MailError:
        sock.close()
        raise
    except OSError as e:
        sock.close()
        raise classify.network_error(e, "connect") from None
    conn = Conn(sock, timeout_ms, deadline, tls_cfg)
    if implicit_tls:
        try:
            conn.starttls()
        except Exception:
            conn.close()
            raise
    return conn
