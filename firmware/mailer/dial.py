# Opening a connection, one-time code loaded for that moment only (transport.connect imports it
# and unloads it after): the name lookup, the non-blocking connect, the TLS context (made here,
# in a heap swept clean, for the upgrade later), and the pin check (Conn.starttls loads this
# module again only for a pin). Shared with the asyncio connection (mailer.aconn).
import binascii
import errno
import hashlib
import os
import socket

import select

from mailer import compat
from mailer.compat import const
from mailer.errors import MailError
from mailer.transport import Conn, _error

# Device error codes (mailer.codes; README, "Device error codes").
_COMM = const(801)  # error communicating with the SMTP server
_RESOLVE = const(802)  # server name cannot be resolved
_CLOCK = const(843)  # device clock not set / too far off
_SETTINGS = const(861)  # settings invalid / bad input
_CERT = const(863)  # server certificate rejected

try:
    import tls
except ImportError:  # CPython: ssl has the same constants and SSLContext as MicroPython's tls
    import ssl as tls  # type: ignore[no-redef]

_IPPROTO_TCP = const(6)
_TCP_NODELAY = const(1)


def load_ca(path, key="smtp.ca_file"):
    """The CA certificate file `key` (a settings key) names, as DER."""
    # Mbed TLS takes DER only; accept PEM too by decoding the base64 body.
    try:
        with open(path, "rb") as f:
            data = f.read(os.stat(path)[6])  # in one piece, not a buffer grown as it fills
    except OSError:
        raise MailError(_SETTINGS, key + ": cannot read " + path) from None
    if data[:10] == b"-----BEGIN":
        body = b"".join(ln for ln in data.split(b"\n") if ln and ln[:5] != b"-----")
        data = binascii.a2b_base64(body)
    return data


def context(cfg, keep_leaf):
    """The SSLContext for cfg (a TlsConfig); keep_leaf(cert, depth) is Mbed TLS's verify
    callback that keeps the server's certificate for the pin. Shared by the blocking and the
    asyncio connection (mailer.aconn)."""
    if cfg.verify == "ca" and not compat.clock_ok():
        raise MailError(_CLOCK, "clock not set: certificate dates cannot be checked")
    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    cpython = tls.__name__ == "ssl"  # a local, not a module global: one name fewer on the heap
    try:
        if cfg.verify == "ca":
            ctx.verify_mode = tls.CERT_REQUIRED
            der = load_ca(cfg.ca_file, cfg.ca_key)
            if cpython:
                ctx.load_verify_locations(None, None, der)  # cafile, capath, cadata
            else:  # tls takes the DER as its one argument
                ctx.load_verify_locations(der)
        elif cpython:
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
            raise MailError(_CERT, "certificate fingerprint differs from the pinned one")


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
    # Non-blocking connect with poll, bounded by the time-out and the deadline.
    sock = start_connect(host, port)
    p = select.poll()
    p.register(sock, select.POLLOUT)
    connected(sock, p.poll(max(0, min(timeout_ms, compat.left_ms(deadline)))), host, port)
    sock.setblocking(True)
    conn = Conn(sock, host, timeout_ms, deadline, tls_cfg)
    if implicit_tls or tls_cfg.verify != "off":
        # The TLS context (about 1.8 KB in one piece on a 32-bit board) is made now, in a heap
        # swept clean before the send's modules load, not at STARTTLS in a fragmented one
        # (32-bit: one message then needs 2 KiB less heap). A CA file that cannot be read (#861)
        # stops the send here, before a word is said; any other failure to make the context
        # (the clock, #843) is left for the handshake, where the session reports it: without
        # STARTTLS an opportunistic send needs none.
        try:
            conn.ctx = context(tls_cfg, conn.keep_leaf)
        except MailError as e:
            if e.code == _SETTINGS:
                conn.close()
                raise
    if implicit_tls:
        try:
            conn.starttls()
        except Exception:
            conn.close()
            raise
    return conn
