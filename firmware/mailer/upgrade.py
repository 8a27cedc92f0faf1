# Upgrading a connection to TLS in place: after the server's go-ahead (STARTTLS, RFC 3207 4;
# POP3's STLS, RFC 2595 4), or at once for implicit TLS (RFC 8314 3). One-time code, loaded for
# the upgrade only (transport.Conn.starttls): once the session is open its connection only
# reads and writes, and kept in mailer.transport this code stayed on the heap through the
# send's peak (32-bit, with the sweep before it: W1 and W2 -0.5 KiB). The context and the
# injection check are shared with mailer.aconn.
import sys

from mailer.compat import const, once
from mailer.errors import MailError
from mailer.transport import _error

_TLS_REQUIRED = const(862)  # encryption required but not available


def check_unread(n):
    # n: bytes the protocol's reader holds past the server's go-ahead (STARTTLS 220,
    # STLS +OK). Sent in clear before the handshake, they would be read as if they came
    # over TLS (response injection, CVE-2021-22947 class; RFC 3207 5): stop. Its text here, not
    # in mailer.details: this module is on the heap only for the upgrade, and classify.in_step
    # reads "injected" in it, which "[detail n]" (no heap for the texts) would lose, and a QUIT
    # would then go out in clear to the server that injected.
    if n:
        raise MailError(_TLS_REQUIRED, "data injected before TLS handshake", retry=False)


def context(conn):
    """The SSLContext to upgrade conn (transport.Conn, aconn.AConn) with: the one made ahead
    (tlsctx.ahead), taken so that a long-lived TlsConfig does not keep it, or one made now,
    into the session's fragmented heap (where it could not be made ahead)."""
    cfg = conn.tls_cfg
    ctx, cfg.ctx = cfg.ctx, None
    ctx = ctx or once("tlsctx", "context", cfg)
    if cfg.verify != "ca" and sys.implementation.name == "micropython":
        # The TLS socket has no getpeercert(): keep the certificate as it goes by.
        ctx.verify_callback = conn.keep_leaf
    return ctx


def upgrade(conn, n):
    """The blocking upgrade of conn (transport.Conn): the injection check (n: bytes read past
    the go-ahead), the handshake, the pin (mailer.tlsctx loaded again for it)."""
    check_unread(n)
    ctx = context(conn)
    conn._arm()
    try:
        conn.sock = ctx.wrap_socket(conn.raw, server_hostname=conn.host)
    except (OSError, ValueError) as e:
        raise _error(e, "tls") from None
    # recv() returns what has arrived, where read(n) may wait for all n. MicroPython's TLS
    # socket has recv() and sendall() only when built with DTLS (as the Unix port is);
    # without them its read() and write() are the stream ones.
    conn.recv = getattr(conn.sock, "recv", None)
    if not conn.recv:
        # A build without DTLS has only the stream read(n), which waits for all n bytes
        # (a reply is shorter): non-blocking, it gives what has arrived, and every wait is
        # a poll bounded by the time-out and the deadline.
        conn.sock.setblocking(False)
    if sys.implementation.name != "micropython":
        # CPython's wrap_socket detaches the plain socket: time-outs go on the TLS one.
        conn.raw = conn.sock
        conn.leaf = conn.sock.getpeercert(True)
    conn.tls = conn.fresh = True
    if conn.tls_cfg.pin:
        once("tlsctx", "check_pin", conn.tls_cfg, conn.leaf)
