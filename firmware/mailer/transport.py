# Network edge: TCP and TLS on MicroPython 1.23 or later (its `tls` module, used directly as
# micropython-lib's requests does) and on CPython (`ssl`, for the host tests). Every wait is
# bounded by the per-read time-out and by the send's overall deadline. Opening a connection
# (the lookup, the connect: mailer.dial.connect, which every caller reaches through
# compat.once), making the TLS context (mailer.tlsctx) and the upgrade to TLS (mailer.upgrade)
# are one-time code, loaded for that moment only; what stays is the connection a session reads
# and writes, and TlsConfig, which is data.
import select

from mailer.compat import const, left_ms, unload
from mailer.errors import MailError, detail

# Device error codes (mailer.codes; README, "Device error codes").
_COMM = const(801)  # error communicating with the SMTP server
_TLS_REQUIRED = const(862)  # encryption required but not available

# mailer.details' texts.
_DEADLINE = const(8)
_NO_TLS = const(9)

_ETIMEDOUT = const(110)  # as errno has it; classify reads it as a time-out


class TlsConfig:
    # How a server's certificate is checked: verify "ca" (ca_file: the CA's certificate file,
    # DER or PEM, read when a connection is made; ca_key: the setting that names it), "pin"
    # (pin: SHA-256 hex of the server's own certificate) or "off". The name checked (RFC 6125)
    # is the host connected to. ctx: the SSLContext made ahead (tlsctx.ahead), for the next TLS
    # upgrade.
    def __init__(self, verify="ca", ca_file=None, pin=None, ca_key="smtp.ca_file"):
        self.verify = verify
        self.ca_file = ca_file
        self.ca_key = ca_key
        self.pin = pin.replace(":", "").lower() if pin else None
        self.ctx = None


def _error(e, step):
    # step: "tls", or the stage network_error() takes ("step" is a name every board has built
    # in: each new parameter name is interned on its heap for good)
    from mailer import classify  # only on a failure: not on the heap of a good send

    return classify.tls_error(e) if step == "tls" else classify.network_error(e, step)


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
        # Milliseconds this wait may take: the read time-out, within the overall deadline.
        t = min(self.timeout_ms, left_ms(self.deadline))
        if t <= 0:
            raise MailError(_COMM, detail(_DEADLINE))
        if self.recv:
            self.raw.settimeout(t / 1000)
        return t

    def _ready(self, mode):
        # A TLS socket without recv() is non-blocking (mailer.upgrade): wait until it is ready.
        p = select.poll()
        p.register(self.sock, mode)
        if not p.poll(self._arm()):
            raise OSError(_ETIMEDOUT, "timed out")

    def read(self, n=512):
        # Returns at most n bytes; b"" means the server closed the connection.
        try:
            if self.recv:
                self._arm()
                data = self.recv(n)
            else:
                # read(n) on a non-blocking stream gives what has arrived, None for nothing yet.
                data = self.sock.read(n)
                while data is None:
                    self._ready(select.POLLIN)
                    data = self.sock.read(n)
            if self.fresh and not data:
                # The same verdict where the stack reports the reset as an end of stream
                # (OpenSSL, TLS 1.3): over TLS, the server's first reply never came.
                raise OSError("EOF")
        except OSError as e:
            raise _error(e, "first" if self.fresh else "read") from None
        self.fresh = False
        return data

    def write(self, data):
        try:
            if self.recv:
                self._arm()
                self.sock.sendall(data)
                return
            mv = memoryview(data)
            while mv:
                n = self.sock.write(mv)
                if n is None:  # the socket's buffer is full: wait for room
                    self._ready(select.POLLOUT)
                    continue
                mv = mv[n:]
        except OSError as e:
            raise _error(e, "first" if self.fresh else "write") from None

    def keep_leaf(self, cert, n):
        # Mbed TLS walks the chain from the top (n: the certificate's depth): 0, last, is the
        # server's own.
        if n == 0:
            self.leaf = bytes(cert)
        return 0  # the pin, not the chain, decides

    def password_allowed(self, allow_plain):
        # The one guard of SMTP AUTH and POP3 alike: a password goes over TLS, or in clear only
        # when the settings say so (smtp.allow_plain_password).
        if not self.tls and not allow_plain:
            raise MailError(_TLS_REQUIRED, detail(_NO_TLS), retry=False)

    def starttls(self, n=0):
        """Upgrade to TLS in place (mailer.upgrade, loaded for the moment; n: bytes read past
        the go-ahead)."""
        # Loaded into a heap swept clean, as the handshake's and the transactions' code are, and
        # imported and unloaded here, not through compat.once: at this moment the TLS socket
        # (284 bytes in one piece) must find a hole (32-bit W1: -0.25 KiB for the sweep, +0.5
        # through once(), whose own pieces take one). mailer.aconn keeps its own reference.
        import gc

        gc.collect()
        from mailer import upgrade

        try:
            upgrade.upgrade(self, n)
        finally:
            unload("upgrade")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass  # already gone; nothing to release
