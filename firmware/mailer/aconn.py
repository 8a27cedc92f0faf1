# The asyncio connection: mailer.transport.Conn's surface (read, write, starttls, close,
# password_allowed, .tls, .host) with read, write and starttls awaitable, so that other tasks
# run while a send waits for the network. Imported only by mailer.aclient: the blocking path
# never loads asyncio. The SSLContext and the pin (mailer.tlsctx), the connect verdicts
# (mailer.dial), the context to upgrade with and the injection check (mailer.upgrade) are the
# blocking path's own; failures map to the same device codes (mailer.classify).
# Every wait is bounded by min(per-read time-out, what the overall deadline leaves).
#   MicroPython: asyncio.Stream on the non-blocking socket; TLS (STARTTLS and implicit) wraps
#   that socket in place with do_handshake_on_connect=False, and the handshake runs inside the
#   first reads and writes, each a short step of the event loop.
#   CPython (host tests): asyncio streams and StreamWriter.start_tls (3.11).
import asyncio
import errno
import select

from mailer import dial, tlsctx, transport, upgrade
from mailer import compat
from mailer.compat import const, left_ms
from mailer.errors import MailError

# Device error codes (mailer.codes; README, "Device error codes").
_COMM = const(801)  # error communicating with the SMTP server

_MP = hasattr(asyncio, "wait_for_ms")
_POLL_MS = const(5)  # how often a pending connect is looked at (nothing to wake on before it)


def _sleep_ms(ms):
    return asyncio.sleep_ms(ms) if _MP else asyncio.sleep(ms / 1000)


def _bounded(aw, ms):
    return asyncio.wait_for_ms(aw, ms) if _MP else asyncio.wait_for(aw, ms / 1000)


class AConn(transport.Conn):
    # sock: a connected non-blocking socket. password_allowed() and the certificate callback
    # are Conn's; read, write and starttls are coroutines here.
    def __init__(self, sock, host, timeout_ms, deadline, tls_cfg):
        super().__init__(sock, host, timeout_ms, deadline, tls_cfg)
        self.reader = self.writer = None
        # MicroPython: the handshake runs inside the first read or write after the wrap; until
        # one has returned, a failure is the handshake's, and after it the pin is checked.
        self.shaking = False
        self.early = b""  # what the read that started the handshake returned (nothing, in practice)

    async def _streams(self):
        if _MP:
            self.reader = self.writer = asyncio.StreamReader(self.sock)
        else:
            self.reader, self.writer = await asyncio.open_connection(sock=self.sock)

    async def _io(self, what, make):
        # make(): the awaitable of one read, write or handshake; what: the stage for a failure.
        t = min(self.timeout_ms, left_ms(self.deadline))
        if t <= 0:
            raise MailError(_COMM, "deadline passed")
        if self.shaking:
            what = "tls"
        elif self.fresh:
            what = "first"  # a failure before the first reply over TLS is the handshake's
        try:
            out = await _bounded(make(), t)
        except asyncio.TimeoutError:  # CPython: an OSError without errno, so first
            raise transport._error(OSError(errno.ETIMEDOUT, "timed out"), what) from None
        except (OSError, ValueError) as e:  # ValueError: Mbed TLS's certificate verdicts
            if not e.args:  # CPython's start_tls: the peer gone mid-handshake, as a bare class
                e = OSError("EOF")
            raise transport._error(e, what) from None
        if self.shaking:
            self.shaking = False
            tlsctx.check_pin(self.tls_cfg, self.leaf)
        return out

    async def read(self, n=512):
        # Returns at most n bytes; b"" means the server closed the connection.
        data = await self._io("read", lambda: self._read(n))
        if self.fresh and not data:
            raise transport._error(OSError("EOF"), "first")
        self.fresh = False
        return data

    async def _read(self, n):
        early, self.early = self.early, b""
        return early or await self.reader.read(n)

    async def _send(self, data):
        self.writer.write(data)
        await self.writer.drain()

    async def write(self, data):
        await self._io("write", lambda: self._send(data))

    def _buffered(self):
        # CPython's StreamReader holds what arrived beyond the reads so far; on MicroPython a
        # read takes bytes straight from the socket, so there is no such buffer.
        return len(getattr(self.reader, "_buffer", b""))

    async def starttls(self, unread=0):
        upgrade.check_unread(unread + self._buffered())
        ctx = upgrade.context(self)
        if _MP:
            try:
                self.sock = ctx.wrap_socket(self.sock, server_hostname=self.host, do_handshake_on_connect=False)
                # A Stream read waits for the socket to be readable, and with implicit TLS
                # nothing comes before the ClientHello: a read of the TLS socket itself sends it
                # (and gives None: the server's reply is not there yet, or what came is kept).
                self.early = self.sock.read(1) or b""
            except (OSError, ValueError) as e:
                raise transport._error(e, "tls") from None
            await self._streams()
            # The leaf is known once the handshake is over: after the first write (the EHLO,
            # which carries nothing secret) or read (an implicit TLS greeting), before the
            # next step of the dialogue.
            self.shaking = True
        else:
            await self._io("tls", lambda: self.writer.start_tls(ctx, server_hostname=self.host))
            if self.tls_cfg.pin:
                # Only for a pin: a TLS 1.3 server's alert may already have ended the session
                # (ValueError), and the next read is where the blocking path reads that verdict.
                try:
                    self.leaf = self.writer.get_extra_info("ssl_object").getpeercert(True)
                except ValueError as e:
                    raise transport._error(e, "tls") from None
                tlsctx.check_pin(self.tls_cfg, self.leaf)
        self.tls = self.fresh = True

    def close(self):
        if _MP or self.writer is None:
            super().close()  # MicroPython's Stream.close() does nothing: close the socket
        else:
            # As the blocking transport: the socket goes at once, no TLS close_notify exchange
            # for the event loop to wait on.
            self.writer.transport.abort()


async def connect(host, port, timeout_ms, deadline, tls_cfg, implicit_tls=False):
    """An AConn to host:port, its connect bounded by the time-out and the deadline, over TLS
    at once when implicit_tls. Name resolution blocks, as in mqtt_as: getaddrinfo has no
    non-blocking form on MicroPython."""
    if tls_cfg.ctx is None:  # a send's was made before its modules loaded (Client.prepare)
        compat.once("tlsctx", "ahead", tls_cfg, implicit_tls)
    sock = dial.start_connect(host, port)
    p = select.poll()
    p.register(sock, select.POLLOUT)
    limit = compat.deadline(max(0, min(timeout_ms, left_ms(deadline))))
    ev = p.poll(0)
    while not ev and left_ms(limit) > 0:
        await _sleep_ms(_POLL_MS)
        ev = p.poll(0)
    dial.connected(sock, ev, host, port)
    conn = AConn(sock, host, timeout_ms, deadline, tls_cfg)
    try:
        await conn._streams()
        if implicit_tls:
            await conn.starttls()
    except Exception:
        conn.close()
        raise
    return conn
