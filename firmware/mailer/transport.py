# Network edge: TCP and TLS on MicroPython 1.23 or later (its `tls` module, used directly as
# micropython-lib's requests does) and on CPython (`ssl`, for the host tests). Every wait is
# bounded by the per-read time-out and by the send's overall deadline.
import binascii
import errno
import hashlib
import socket

import select

from mailer.compat import clock_ok, const
from mailer.errors import CERT, CLOCK, COMM, RESOLVE, TLS_REQUIRED, MailError

try:
    import tls

    _CPYTHON = False
except ImportError:  # CPython: ssl has the same constants and SSLContext
    import ssl as tls  # type: ignore[no-redef]

    _CPYTHON = True

_IPPROTO_TCP = const(6)
_TCP_NODELAY = const(1)


class TlsConfig:
    # How a server's certificate is checked: verify "ca" (cadata: the CA's DER), "pin" (pin:
    # SHA-256 hex of the server's own certificate) or "off". The name checked (RFC 6125) is
    # the host connected to.
    def __init__(self, verify="ca", cadata=None, pin=None):
        self.verify = verify
        self.cadata = cadata
        self.pin = pin.replace(":", "").lower() if pin else None


def _error(exc, what):
    from mailer import classify  # only on a failure: not on the heap of a good send

    return classify.tls_error(exc) if what == "tls" else classify.network_error(exc, what)


def check_unread(unread):
    # unread: bytes the protocol's reader holds past the server's go-ahead (STARTTLS 220,
    # STLS +OK). Sent in clear before the handshake, they would be read as if they came
    # over TLS (response injection, CVE-2021-22947 class; RFC 3207 5): stop.
    if unread:
        raise MailError(TLS_REQUIRED, "data injected before TLS handshake", retry=False)


def context(cfg, keep_leaf):
    """The SSLContext for cfg (a TlsConfig); keep_leaf(cert, depth) is Mbed TLS's verify
    callback that keeps the server's certificate for the pin. Shared by the blocking and the
    asyncio connection (mailer.aconn)."""
    if cfg.verify == "ca" and not clock_ok():
        raise MailError(CLOCK, "clock not set: certificate dates cannot be checked")
    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    try:
        if cfg.verify == "ca":
            ctx.verify_mode = tls.CERT_REQUIRED
            if _CPYTHON:
                ctx.load_verify_locations(cadata=cfg.cadata)
            else:  # tls takes the DER as its one argument
                ctx.load_verify_locations(cfg.cadata)
        elif _CPYTHON:
            ctx.check_hostname = False  # CPython wants this before CERT_NONE
            ctx.verify_mode = tls.CERT_NONE
        else:
            # The TLS socket has no getpeercert(): keep the certificate as it goes by. Mbed
            # TLS calls the callback only while it verifies, so verify, optionally: the
            # callback's 0 clears every flag, and the pin (or nothing) decides.
            ctx.verify_mode = tls.CERT_OPTIONAL
            ctx.verify_callback = keep_leaf
    except (OSError, ValueError) as e:
        raise _error(e, "tls") from None
    return ctx


def check_pin(cfg, leaf):
    """#863 unless the server's certificate (DER) is the pinned one, when cfg has a pin."""
    if cfg.pin:
        got = binascii.hexlify(hashlib.sha256(leaf or b"").digest()).decode()
        if got != cfg.pin:
            raise MailError(CERT, "certificate fingerprint differs from the pinned one")


def start_connect(host, port):
    """A non-blocking TCP socket whose connect has started (on ESP32 a blocking connect()
    ignores settimeout): the caller waits for POLLOUT, then calls connected()."""
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
    except OSError as e:
        sock.close()
        raise _error(e, "connect") from None
    return sock


def connected(sock, ev, host, port):
    """The verdict on a connect: ev, what poll() gave for POLLOUT ([] when it timed out).
    Closes the socket on a failure."""
    err = None
    if not ev:
        err = "connect to %s:%d timed out"
    elif ev[0][1] & (select.POLLERR | select.POLLHUP):
        err = "connection to %s:%d refused"
    if err:
        sock.close()
        raise MailError(COMM, err % (host, port))
    try:
        # Small flights are written whole; Nagle would only add delayed-ACK stalls.
        sock.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)
    except OSError:
        pass  # not every port has it; a missing option costs latency, not correctness


class Conn:
    def __init__(self, sock, host, timeout_ms, deadline, tls_cfg):
        self.raw = sock  # what time-outs are set on
        self.sock = sock
        self.host = host
        self.timeout_ms = timeout_ms
        self.deadline = deadline
        self.tls_cfg = tls_cfg
        self.tls = False
        # Until the first read over TLS has returned, a failure is the handshake's: a TLS 1.3
        # server judges the client's certificate after the client's side of it is over, and
        # its alert 116, or its reset, comes on that read (RFC 8446 4.4.2.4).
        self.fresh = False
        self.leaf = None  # the server's certificate (DER), once the handshake has shown it
        self.recv = sock.recv

    def _arm(self):
        t = min(self.timeout_ms, self.deadline.left_ms())
        if t <= 0:
            raise MailError(COMM, "deadline passed")
        self.raw.settimeout(t / 1000)

    def read(self, n=512):
        # Returns at most n bytes; b"" means the server closed the connection.
        self._arm()
        try:
            data = self.recv(n) if self.recv else self.sock.read(n) or b""
            if self.fresh and not data:
                # The same verdict where the stack reports the reset as an end of stream
                # (OpenSSL, TLS 1.3): over TLS, the server's first reply never came.
                raise OSError("EOF")
        except OSError as e:
            raise _error(e, "first" if self.fresh else "read") from None
        self.fresh = False
        return data

    def write(self, data):
        self._arm()
        try:
            if self.recv:
                self.sock.sendall(data)
                return
            mv = memoryview(data)
            while mv:
                n = self.sock.write(mv)
                mv = mv[n:]
        except OSError as e:
            raise _error(e, "first" if self.fresh else "write") from None

    def _keep_leaf(self, cert, depth):
        # Mbed TLS walks the chain from the top: depth 0, last, is the server's own.
        if depth == 0:
            self.leaf = bytes(cert)
        return 0  # the pin, not the chain, decides

    def password_allowed(self, allow_plain):
        # The one guard of SMTP AUTH and POP3 alike: a password goes over TLS, or in clear only
        # when the settings say so (smtp.allow_plain_password).
        if not self.tls and not allow_plain:
            raise MailError(TLS_REQUIRED, "refusing to send the password without TLS", retry=False)

    def starttls(self, unread=0):
        check_unread(unread)
        self._handshake()

    def _handshake(self):
        ctx = context(self.tls_cfg, self._keep_leaf)
        self._arm()
        try:
            self.sock = ctx.wrap_socket(self.raw, server_hostname=self.host)
        except (OSError, ValueError) as e:
            raise _error(e, "tls") from None
        # recv() returns what has arrived, where read(n) may wait for all n. MicroPython's TLS
        # socket has recv() and sendall() only when built with DTLS (as the Unix port is);
        # without them its read() and write() are the stream ones.
        self.recv = getattr(self.sock, "recv", None)
        if _CPYTHON:
            # CPython's wrap_socket detaches the plain socket: time-outs go on the TLS one.
            self.raw = self.sock
            self.leaf = self.sock.getpeercert(True)
        self.tls = self.fresh = True
        check_pin(self.tls_cfg, self.leaf)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass  # already gone; nothing to release


def connect(host, port, timeout_ms, deadline, tls_cfg, implicit_tls=False):
    # Non-blocking connect with poll, bounded by the time-out and the deadline.
    sock = start_connect(host, port)
    p = select.poll()
    p.register(sock, select.POLLOUT)
    connected(sock, p.poll(max(0, min(timeout_ms, deadline.left_ms()))), host, port)
    sock.setblocking(True)
    conn = Conn(sock, host, timeout_ms, deadline, tls_cfg)
    if implicit_tls:
        try:
            conn.starttls()
        except Exception:
            conn.close()
            raise
    return conn
