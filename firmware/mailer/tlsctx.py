# The TLS context: how a server's certificate is checked (TlsConfig: a CA file, a pin, or off),
# one-time code loaded for that moment only. ahead() makes the context in a heap swept clean,
# before the send's modules load (Client.prepare), or at a connect that has none yet (a second
# connection on the same TlsConfig: POP before SMTP); the pin is checked after the handshake.
# Shared with the asyncio connection (mailer.aconn).
import binascii
import hashlib
import os

from mailer import compat
from mailer.compat import const
from mailer.errors import MailError
from mailer.transport import _error

# Device error codes (mailer.codes; README, "Device error codes").
_CLOCK = const(843)  # device clock not set / too far off
_SETTINGS = const(861)  # settings invalid / bad input
_CERT = const(863)  # server certificate rejected

try:
    import tls
except ImportError:  # CPython: ssl has the same constants and SSLContext as MicroPython's tls
    import ssl as tls  # type: ignore[no-redef]


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


def context(cfg):
    """The SSLContext for cfg (a TlsConfig). For "pin" and "off" on MicroPython the connection
    sets its verify callback (transport.Conn.context)."""
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
            # Verify, optionally: Mbed TLS calls the verify callback only while it verifies, and
            # the callback's 0 clears every flag, so the pin (or nothing) decides.
            ctx.verify_mode = tls.CERT_OPTIONAL
    except (OSError, ValueError) as e:
        raise _error(e, "tls") from None
    return ctx


def ahead(cfg, implicit_tls=False):
    """Make the TLS context of cfg (a transport.TlsConfig) now, as cfg.ctx, unless made
    already or not needed. It is about 1.8 KB in one piece on a 32-bit board, and the CA file
    is read in one piece too (1.4 KB for a common root): made first, in a heap swept clean,
    not at STARTTLS in a fragmented one (32-bit: a 1 MiB attachment then needs 1 KiB less
    heap). A CA file that cannot be read (#861) stops the send here, before any connection;
    any other failure to make the context (the clock, #843) is left for the handshake, where
    the session reports it: without STARTTLS an opportunistic send needs none."""
    if cfg.ctx is None and (implicit_tls or cfg.verify != "off"):
        try:
            cfg.ctx = context(cfg)
        except MailError as e:
            if e.code == _SETTINGS:
                raise


def check_pin(cfg, leaf):
    """#863 unless the server's certificate (DER) is the pinned one, when cfg has a pin."""
    if cfg.pin:
        got = binascii.hexlify(hashlib.sha256(leaf or b"").digest()).decode()
        if got != cfg.pin:
            raise MailError(_CERT, "certificate fingerprint differs from the pinned one")
