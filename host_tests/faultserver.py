# A scriptable, hostile SMTP server for the fault-injection tests (CPython, loopback only).
#
# One script per case: a list of steps run in order on each accepted connection:
#   ("send", bytes)             write bytes (one write: several reply lines form one packet)
#   ("expect", b"EHLO")         read one line; it must start with the prefix (case-insensitive)
#   ("data",)                   read a DATA body up to and including the "\r\n.\r\n" line
#   ("recv", n)                 read at least n bytes, whatever they are (a ClientHello, body)
#   ("stall", seconds)          answer nothing for that long (ends early if the client hangs up)
#   ("drip", bytes, interval)   write one byte at a time, `interval` seconds apart
#   ("close",)                  drop the connection: the client reads EOF (no reply, no TLS
#                               close_notify)
#   ("starttls", ssl_context)   real TLS upgrade, server side; the rest of the script is in TLS
#   ("abort_tls", ssl_context)  the server's side of a handshake up to its first flight, then a
#                               reset (RST) once the client answers it: with client_ca, what
#                               servers do that drop a client without the certificate they want
# FaultServer(script, implicit=ctx) wraps each connection in TLS at once (RFC 8314).
# After the script the server keeps reading until the client hangs up (or `linger` passes).
# What the client sent is recorded in .received (decrypted once TLS is up), its command lines
# in .commands, DATA bodies in .bodies; .eof is set when the client closed the connection.
# A step that fails (wrong command, EOF, handshake error) ends the script and is recorded in
# .errors / .handshake_error. stop() always ends the thread; use it as a context manager.
import select
import socket
import ssl
import struct
import threading
import time

from tools.certs import server_context  # the suites make contexts through here

_MAX_LINE = 1 << 16


class _Gone(Exception):
    """The client closed the connection (EOF or reset)."""


class FaultServer:
    def __init__(self, script, implicit=None, linger=10.0, connections=1):
        self.script = list(script)
        self.implicit = implicit
        self.linger = linger
        self.connections = connections
        self.received = bytearray()
        self.commands = []
        self.bodies = []
        self.errors = []
        self.handshake_error = None
        self.tls_version = None
        self.accepted = 0
        self.eof = threading.Event()  # the client hung up (the last connection)
        self.done = threading.Event()  # the script and the drain are over
        self.eof_at = None  # time.monotonic() when the client hung up
        self._stop = threading.Event()
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(4)
        self._lsock.settimeout(0.05)
        self.port = self._lsock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    # -- life cycle -------------------------------------------------------------------------
    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self._lsock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def wait_eof(self, timeout=5.0):
        """True once the client has closed its end (the server read EOF or a reset)."""
        return self.eof.wait(timeout)

    def wire(self):
        """Everything the client sent, as bytes (plaintext part and TLS-decrypted part)."""
        return bytes(self.received)

    # -- server thread ----------------------------------------------------------------------
    def _serve(self):
        try:
            while not self._stop.is_set() and self.accepted < self.connections:
                try:
                    c, _ = self._lsock.accept()
                except socket.timeout:
                    continue
                self.accepted += 1
                self.eof.clear()
                self._conn(c)
        finally:
            self.done.set()

    def _conn(self, c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.settimeout(self.linger)
        self._buf = b""
        self._sock = c  # the socket to close at the end (the TLS one once TLS is up)
        try:
            if self.implicit is not None:
                c = self._handshake(c, self.implicit)
            for step in self.script:
                if c is None:
                    return
                c = getattr(self, "_" + step[0])(c, *step[1:])
            if c is not None:
                self._drain(c)
        except _Gone:
            self._gone()
        except (OSError, ValueError) as e:  # timeouts, resets while writing, TLS errors
            self.errors.append("%s: %r" % (type(e).__name__, e))
            if isinstance(e, (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError)):
                self._gone()
        finally:
            try:
                self._sock.close()
            except OSError:
                pass

    def _gone(self):
        if not self.eof.is_set():
            self.eof_at = time.monotonic()
            self.eof.set()

    def _recv(self, c, n=1):
        # Read at least n more bytes into the line buffer (raises _Gone on EOF).
        want = len(self._buf) + n
        while len(self._buf) < want:
            self._read_some(c)
        return c

    def _read_some(self, c, record=True):
        if self._stop.is_set():
            raise OSError("server stopped")
        try:
            data = c.recv(4096)
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            data = b""
        if not data:
            raise _Gone()
        if not record:
            return
        self.received += data
        self._buf += data

    def _line(self, c):
        while b"\n" not in self._buf:
            if len(self._buf) > _MAX_LINE:
                raise OSError("client line too long")
            self._read_some(c)
        line, _, self._buf = self._buf.partition(b"\n")
        return line + b"\n"

    # -- steps ------------------------------------------------------------------------------
    def _send(self, c, data):
        c.sendall(data)
        return c

    def _expect(self, c, prefix):
        line = self._line(c)
        self.commands.append(line)
        if not line.upper().startswith(prefix.upper()):
            self.errors.append("expected %r, got %r" % (prefix, line[:80]))
            return None
        return c

    def _data(self, c):
        while b"\r\n.\r\n" not in self._buf:
            if len(self._buf) > 8 * _MAX_LINE:
                raise OSError("body too long for the fault server")
            self._read_some(c)
        body, _, self._buf = self._buf.partition(b"\r\n.\r\n")
        self.bodies.append(body + b"\r\n")
        return c

    def _stall(self, c, seconds):
        end = time.monotonic() + seconds
        while not self._stop.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return c
            r, _, _ = select.select([c], [], [], min(left, 0.05))
            if r:
                self._read_some(c)  # records what arrives; raises _Gone on EOF
        raise OSError("server stopped")

    def _drip(self, c, data, interval):
        for i in range(len(data)):
            c.sendall(data[i : i + 1])
            self._stall(c, interval)
        return c

    def _close(self, c):
        # Drop the connection as a crashed server or a middlebox does: the client reads EOF
        # (FIN, no QUIT reply, no TLS close_notify). Half-closing lets us still see the client
        # hang up in turn, which is what the tests check.
        c.shutdown(socket.SHUT_WR)
        self._drain(c, record=False)
        return None

    def _starttls(self, c, ctx):
        return self._handshake(c, ctx)

    def _abort_tls(self, c, ctx):
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, out, server_side=True)
        while not out.pending:  # until the ClientHello is whole and answered
            data = c.recv(4096)
            if not data:
                raise _Gone()
            inc.write(data)
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                pass
        c.sendall(out.read())  # ServerHello ... CertificateRequest (TLS 1.2 and 1.3 alike)
        self._read_some(c, record=False)  # the client's answer: its (empty) Certificate
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()  # with linger 0: a reset, not a FIN
        self.handshake_error = "reset after the server's first flight"
        self._gone()  # nothing more can be seen of the client after a reset
        return None

    def _handshake(self, c, ctx):
        # A failed handshake closes the SSL socket; a duplicate of the descriptor keeps the
        # connection open so that we can still see whether the client hangs up.
        raw = c.dup()
        try:
            s = ctx.wrap_socket(c, server_side=True)
        except (OSError, ValueError) as e:
            self.handshake_error = "%s: %s" % (type(e).__name__, e)
            self._drain(raw, record=False)
            raw.close()
            return None
        raw.close()
        self._sock = s
        self.tls_version = s.version()
        return s

    def _drain(self, c, record=True):
        # Keep reading (and recording) until the client hangs up, or `linger` runs out.
        end = time.monotonic() + self.linger
        try:
            while not self._stop.is_set() and time.monotonic() < end:
                r, _, _ = select.select([c], [], [], 0.05)
                if r or (hasattr(c, "pending") and c.pending()):
                    self._read_some(c, record)
        except _Gone:
            self._gone()
        except (OSError, ValueError) as e:
            self.errors.append("drain: %r" % (e,))
            self._gone()


def tls12_context(certs, ciphers):
    """A server context limited to TLS 1.2 and the given OpenSSL cipher list."""
    ctx = server_context(certs)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers)
    return ctx


def free_port():
    """A loopback port nobody listens on (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# -- script building blocks ---------------------------------------------------------------
GREETING = b"220 fault.test ESMTP\r\n"
EHLO_TLS = b"250-fault.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250 STARTTLS\r\n"
EHLO_AUTH = b"250-fault.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250 AUTH PLAIN LOGIN\r\n"
EHLO_PLAIN = b"250-fault.test\r\n250 SIZE 100000\r\n"


def to_starttls(ctx, ehlo=EHLO_TLS):
    """Greeting, EHLO offering STARTTLS, STARTTLS answered 220, the handshake."""
    return [
        ("send", GREETING),
        ("expect", b"EHLO"),
        ("send", ehlo),
        ("expect", b"STARTTLS"),
        ("send", b"220 2.0.0 Ready\r\n"),
        ("starttls", ctx),
    ]


def auth_plain_ok(ehlo=EHLO_AUTH):
    """After TLS: EHLO, AUTH PLAIN accepted."""
    return [
        ("expect", b"EHLO"),
        ("send", ehlo),
        ("expect", b"AUTH PLAIN"),
        ("send", b"235 2.7.0 Authentication successful\r\n"),
    ]


def transaction(n_rcpt=1, final=b"250 2.0.0 Ok: queued as F1\r\n"):
    """MAIL, RCPT x n, DATA, the body, the final reply, QUIT (replies one by one, which also
    serves a pipelining client: it reads them in order)."""
    steps = [("expect", b"MAIL FROM:"), ("send", b"250 2.1.0 Ok\r\n")]
    for _ in range(n_rcpt):
        steps += [("expect", b"RCPT TO:"), ("send", b"250 2.1.5 Ok\r\n")]
    steps += [
        ("expect", b"DATA"),
        ("send", b"354 End data with <CR><LF>.<CR><LF>\r\n"),
        ("data",),
        ("send", final),
        ("expect", b"QUIT"),
        ("send", b"221 2.0.0 Bye\r\n"),
    ]
    return steps
