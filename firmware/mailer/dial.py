# Opening a connection, one-time code loaded for that moment only: every caller (the client,
# POP3, the OAuth token request, the probe) calls connect() through compat.once, so the module
# leaves the heap as soon as the connection is made. The name lookup and the non-blocking
# connect, bounded by the time-out and the deadline; the TLS context is mailer.tlsctx's, made
# first (tlsctx.ahead). Shared with the asyncio connection (mailer.aconn).
# Once in mailer.transport, connect() and TlsConfig.ahead() stayed on the heap through the
# whole send for a moment's use: moved here and to mailer.tlsctx, 32-bit W2 -0.25 KiB.
import errno
import socket

import select

from mailer import compat
from mailer.compat import const
from mailer.errors import MailError
from mailer.transport import Conn, _error

# Device error codes (mailer.codes; README, "Device error codes").
_COMM = const(801)  # error communicating with the SMTP server
_RESOLVE = const(802)  # server name cannot be resolved

_IPPROTO_TCP = const(6)
_TCP_NODELAY = const(1)


def start_connect(host, port):
    """A non-blocking TCP socket whose connect has started (on ESP32 a blocking connect()
    ignores settimeout): the caller waits for POLLOUT, then calls connected()."""
    try:
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    except OSError as e:
        raise MailError(_RESOLVE, "%s: %s" % (host, e)) from None
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
        raise MailError(_COMM, err % (host, port))
    try:
        # Small flights are written whole; Nagle would only add delayed-ACK stalls.
        sock.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)
    except OSError:
        pass  # not every port has it; a missing option costs latency, not correctness


def connect(host, port, timeout_ms, deadline, tls_cfg, implicit_tls=False):
    """A transport.Conn to host:port (TLS at once when implicit_tls), bounded by the time-out
    and the deadline; the TLS context made first (tlsctx.ahead). Call it through
    compat.once("dial", "connect", ...)."""
    if tls_cfg.ctx is None:  # a send's was made before its modules loaded (Client.prepare)
        compat.once("tlsctx", "ahead", tls_cfg, implicit_tls)
    sock = start_connect(host, port)
    p = select.poll()
    p.register(sock, select.POLLOUT)
    connected(sock, p.poll(max(0, min(timeout_ms, compat.left_ms(deadline)))), host, port)
    sock.setblocking(True)
    conn = Conn(sock, host, timeout_ms, deadline, tls_cfg)
    if implicit_tls:
        try:
            conn.starttls()
        except Exception:
            conn.close()
            raise
    return conn
