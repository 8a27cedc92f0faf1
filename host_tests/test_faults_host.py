# Fault injection on CPython: the firmware's client.deliver, session and transport,
# unchanged, against the scriptable fault server on loopback (real sockets, and real TLS on
# CPython's ssl for the STARTTLS cases), and against FakeConn where a fault cannot be made on a
# socket (MemoryError, an internal error). The same cases run on the Unix port in test_faults.py.
import json
import ssl
import time
import warnings

import faultcases as fc
import faultserver as fs
import pytest
from fakeconn import FakeConn, resolved_cfg
from faultserver import FaultServer
from faultcases import Case
from mpsend import TIMEOUT_S, make_settings

from mailer import classify, client, compat, settings
from mailer.codes import CLOCK, INTERNAL, MEMORY, RESOLVE, SETTINGS
from mailer.errors import MailError
from mailer.message import Message

SLACK = 0.5  # scheduling on a loaded 2-core machine


def deliver(path, rcpts=1, subject="Fault test"):
    """One message through client.deliver: (Result, elapsed seconds, log lines)."""
    cfg = settings.load(path)
    # Dated by the caller: the clock tests unset the clock that the TLS context checks.
    msg = Message(cfg["mail"]["from"], list(fc.RCPTS[:rcpts]), subject=subject, body="Hello.\n", date=time.gmtime())
    log = []
    t0 = time.monotonic()
    (res,) = client.deliver(cfg, [msg], log=log.append)
    return res, time.monotonic() - t0, log


def run_case(case, ctx, certs, tmp_path):
    smtp = dict(fc.mode_smtp(ctx), **case.smtp)
    with FaultServer(case.steps, linger=5) as srv:
        res, elapsed, log = deliver(make_settings(tmp_path, srv.port, certs, smtp), case.rcpts)
        code = None if res.ok else res.error.code
        retry = None if res.ok else res.error.retry
        fc.check(case, code, retry, len(res.refused), elapsed, srv, TIMEOUT_S, SLACK)
        text = "\n".join(log) + "\n" + res.line() + "".join(r for _, r in res.refused)
        for secret in fc.b64_forms():
            assert secret.decode() not in text, (case.name, secret)
        return res, srv, log


def _ids(cases):
    return [c.name for c in cases]


PLAIN = fc.stage_cases(None) + fc.reply_cases(None) + fc.starttls_cases(None)


@pytest.mark.parametrize("case", PLAIN, ids=_ids(PLAIN))
def test_plain_case(case, certs, tmp_path):
    res, srv, log = run_case(case, None, certs, tmp_path)
    if case.name in ("sent", "drop-quit", "opportunistic-454-noauth", "opportunistic-454-plain"):
        assert res.ok and res.message_id and srv.bodies and b"Subject: Fault test" in srv.bodies[0]
    if case.name == "opportunistic-454-noauth":
        assert b"AUTH" not in srv.wire()


# The STARTTLS cases on CPython's ssl (the transport's CPython branch) need a server context
# per test: the fixture's certificates are made once per session.
@pytest.fixture
def ctx(certs):
    return fs.server_context(certs)


TLS_NAMES = _ids(fc.stage_cases(object()) + fc.reply_cases(object()) + fc.starttls_cases(object()))


@pytest.mark.parametrize("name", TLS_NAMES)
def test_starttls_case(name, ctx, certs, tmp_path):
    cases = fc.stage_cases(ctx) + fc.reply_cases(ctx) + fc.starttls_cases(ctx)
    (case,) = [c for c in cases if c.name == name]
    res, srv, log = run_case(case, ctx, certs, tmp_path)
    if case.code is None and not name.startswith("opportunistic"):
        assert srv.tls_version and srv.bodies
    if name == "caps-after-tls":
        # Only the capabilities after TLS counted: CRAM-MD5, and no SIZE limit of 10.
        assert any(c.startswith(b"AUTH CRAM-MD5") for c in srv.commands)
        assert b"AUTH PLAIN" not in srv.wire()
    if name == "caps-auth-only-before-tls":
        assert b"AUTH" not in srv.wire().split(b"STARTTLS\r\n", 1)[1]


@pytest.mark.parametrize("variant", ["selfsigned", "wrongname", "expired"])
def test_certificate_rejected_is_863(variant, certs, tmp_path):
    case = Case("cert-" + variant, fs.to_starttls(fs.server_context(certs, variant)), 863, False, secret_free=True)
    res, srv, _ = run_case(case, object(), certs, tmp_path)
    assert "certificate" in (res.error.detail or "").lower() or "verify" in res.error.detail.lower()


def test_clock_unset_is_843_before_the_handshake(certs, tmp_path, monkeypatch):
    # Certificate dates cannot be checked (an ESP32 that never got NTP thinks it is 2000), so the client stops
    # before the handshake rather than reporting #863.
    monkeypatch.setattr(compat, "clock_ok", lambda: False)
    case = Case("clock-unset", fs.to_starttls(fs.server_context(certs))[:-1], 843, True, secret_free=True)
    res, srv, _ = run_case(case, object(), certs, tmp_path)
    assert res.error.code == CLOCK and "clock not set" in res.error.detail
    assert srv.handshake_error is None and srv.tls_version is None


def test_pinned_certificate_without_a_clock_is_fine(certs, tmp_path, monkeypatch):
    # A SHA-256 pin does not depend on dates: the unset clock is no obstacle.
    monkeypatch.setattr(compat, "clock_ok", lambda: False)
    ctx = fs.server_context(certs)
    case = Case(
        "pin-no-clock",
        fs.to_starttls(ctx) + fs.auth_plain_ok() + fs.transaction(),
        None,
        smtp={"verify": "pin", "pin_sha256": certs["server_sha256"]},
    )
    run_case(case, object(), certs, tmp_path)


def test_client_certificate_required(certs, tmp_path):
    # CPython's OpenSSL client: a TLS 1.3 server asks for the certificate after the handshake
    # looks complete to the client, so the failure surfaces on the first read after it. The
    # code is whatever the alert text lets classify tell: #842 when it names
    # certificate_required, #801 when the server only dropped the connection.
    case = Case("client-cert", fs.to_starttls(fs.server_context(certs, client_ca=True)), 842, False, secret_free=True)
    with FaultServer(case.steps, linger=5) as srv:
        res, elapsed, _ = deliver(make_settings(tmp_path, srv.port, certs, {"mechanisms": ["PLAIN"]}))
        assert not res.ok and elapsed < TIMEOUT_S + SLACK
        assert srv.wait_eof(3)
        assert res.error.code == 842, res.line()
        assert "certificate" in srv.handshake_error.lower()


@pytest.mark.parametrize("mode", fc.ABORT_MODES)
def test_reset_after_certificate_request_is_841_not_retried(mode, certs, tmp_path):
    # Not "#801 ... (TLS handshake: 32)", retried for ever: the server has given its verdict.
    # On TLS 1.3 the reset comes on the first read after the client's side of the handshake.
    res, srv, _ = run_case(fc.abort_case(certs, mode), object(), certs, tmp_path)
    assert res.error.detail.startswith("handshake aborted by the server: "), res.line()
    assert srv.handshake_error and srv.tls_version is None


def _tls11_only(certs):
    ctx = fs.server_context(certs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


# CPython's client answers with "sslv3 alert handshake failure" (no cipher) and "tlsv1 alert
# protocol version" (TLS 1.1 server), as SSLError errno 1: both #841.
@pytest.mark.parametrize("server", ["cbc-sha1-only", "tls11-only"])
def test_nothing_in_common_is_841(server, certs, tmp_path):
    if server == "tls11-only":
        ctx = _tls11_only(certs)
    else:  # CBC with SHA-1 MACs: not in CPython's default client list
        ctx = fs.tls12_context(certs, "ECDHE-ECDSA-AES128-SHA")
    res, srv, _ = run_case(Case(server, fs.to_starttls(ctx), 841, False, secret_free=True), object(), certs, tmp_path)
    assert "alert" in res.error.detail and srv.handshake_error


def test_unresolvable_host_is_802(certs, tmp_path):
    path = make_settings(tmp_path, 25, certs)
    cfg = json.loads(open(path).read())
    cfg["smtp"]["host"] = "nonexistent.invalid"
    open(path, "w").write(json.dumps(cfg))
    res, elapsed, _ = deliver(path)
    assert res.error.code == RESOLVE and res.error.retry
    assert res.line().startswith("#802 SMTP server name cannot be resolved (nonexistent.invalid: ")


def test_connection_refused_is_801_retry(certs, tmp_path):
    res, elapsed, _ = deliver(make_settings(tmp_path, fs.free_port(), certs))
    assert res.error.code == 801 and res.error.retry and elapsed < TIMEOUT_S
    assert "refused" in res.error.detail


def test_crlf_in_subject_is_861_before_connecting():
    with pytest.raises(MailError) as e:
        Message(fc.USER, [fc.RCPTS[0]], subject="Hi\r\nBcc: victim@example.com")
    assert e.value.code == SETTINGS and not e.value.retry and "subject" in e.value.detail


# Faults a socket cannot produce, through the same client.deliver with FakeConn as transport.
def _fake_deliver(monkeypatch, certs, tmp_path, conn, smtp=None):
    from mailer import dial  # imported here: compat.once then keeps it, patched

    monkeypatch.setattr(dial, "connect", lambda *a, **k: conn)
    path = make_settings(tmp_path, 25, certs, smtp or {"tls": "off", "allow_plain_password": True})
    return deliver(path)[0]


class _Boom(FakeConn):
    def __init__(self, script, exc, after):
        super().__init__(script)
        self.exc = exc
        self.after = after

    def read(self, n=512):
        if self.reads >= self.after:
            raise self.exc
        return super().read(n)


def test_memory_error_is_851(monkeypatch, certs, tmp_path):
    from mailer.session import _READ_SIZE as READ_SIZE

    # The read after the greeting and the EHLO reply (each read takes at most READ_SIZE bytes).
    reads = sum(-(-len(r) // READ_SIZE) for r in (fs.GREETING, fs.EHLO_AUTH))
    conn = _Boom([fs.GREETING, fs.EHLO_AUTH], MemoryError(), after=reads)
    res = _fake_deliver(monkeypatch, certs, tmp_path, conn)
    assert res.error.code == MEMORY and res.error.retry and conn.closed
    assert res.line() == "#851 Not enough memory (out of memory during auth)"


def test_tls_stack_out_of_memory_is_851(monkeypatch, certs, tmp_path):
    err = OSError(-0x7F00, "MBEDTLS_ERR_SSL_ALLOC_FAILED")
    conn = FakeConn([fs.GREETING, fs.EHLO_TLS, b"220 go\r\n"], handshake_error=classify.tls_error(err))
    res = _fake_deliver(monkeypatch, certs, tmp_path, conn, {"tls": "required"})
    assert res.error.code == MEMORY and res.error.retry and conn.closed
    assert res.line() == "#851 Not enough memory (TLS: MBEDTLS_ERR_SSL_ALLOC_FAILED (-32512))"


def test_unexpected_exception_is_869(monkeypatch, certs, tmp_path):
    conn = _Boom([fs.GREETING], TypeError("boom"), after=1)
    res = _fake_deliver(monkeypatch, certs, tmp_path, conn)
    assert res.error.code == INTERNAL and not res.error.retry and conn.closed
    assert res.line().startswith("#869 Internal error (TypeError during ehlo")


def test_421_at_mail_ends_the_session_for_every_message(monkeypatch):
    # Two messages in one session; the server says 421 to the first MAIL. Both results carry
    # the 421 (retryable), and the client sends nothing more after it.
    from fakeconn import FakeConn, resolved_cfg

    from mailer import client
    from mailer.message import Message

    conn = FakeConn([b"220 mx\r\n", b"250 mx\r\n", b"421 4.3.2 shutting down\r\n"], tls=True)
    from mailer import dial  # imported here: compat.once then keeps it, patched

    monkeypatch.setattr(dial, "connect", lambda *a, **k: conn)
    cfg = resolved_cfg(auth="none")
    msgs = [Message("a@b.c", "d@e.f", "s%d" % i, "x", date=(2026, 1, 1, 0, 0, 0, 0, 0)) for i in (1, 2)]
    results = client.deliver(cfg, msgs)
    assert [r.error.reply for r in results] == ["421 4.3.2 shutting down"] * 2
    assert all(r.error.code == 801 and r.error.retry for r in results)
    assert conn.written.count(b"MAIL FROM") == 1 and conn.closed


# After a failure where the server is still in step (it replied, or the client refused before
# sending anything it would not understand), the client says QUIT before closing (RFC 5321
# 4.1.1.10); after a 421, a time-out or bytes injected before TLS it only closes.
_EHLO_TLS = b"250-mx\r\n250 STARTTLS\r\n"
_EHLO_AUTH = b"250-mx\r\n250 AUTH PLAIN\r\n"


@pytest.mark.parametrize(
    "name,script,smtp,code,wire",
    [
        (
            "auth-535",
            [b"220 mx\r\n", _EHLO_AUTH, b"535 5.7.8 bad credentials\r\n"],
            {},
            839,
            b"EHLO b\r\nAUTH PLAIN AGRldkBiLmMAcHc=\r\nQUIT\r\n",
        ),
        (
            "no-starttls-862",
            [b"220 mx\r\n", b"250 mx\r\n"],
            {"tls": "required", "port": 587},
            862,
            b"EHLO b\r\nQUIT\r\n",
        ),
        ("no-mechanism-839", [b"220 mx\r\n", b"250-mx\r\n250 AUTH NTLM\r\n"], {}, 839, b"EHLO b\r\nQUIT\r\n"),
        (
            "injection-862",
            [b"220 mx\r\n", _EHLO_TLS, b"220 go\r\n250 injected\r\n"],
            {"tls": "required", "port": 587},
            862,
            b"EHLO b\r\nSTARTTLS\r\n",
        ),
        ("greeting-421", [b"421 4.3.2 busy\r\n"], {}, 801, b""),
        ("timeout", [b"220 mx\r\n", None], {}, 801, b"EHLO b\r\n"),
    ],
)
def test_quit_after_a_failure_only_while_in_step(monkeypatch, name, script, smtp, code, wire):
    conn = FakeConn(script, tls=smtp.get("tls", "implicit") == "implicit")
    from mailer import dial  # imported here: compat.once then keeps it, patched

    monkeypatch.setattr(dial, "connect", lambda *a, **k: conn)
    cfg = resolved_cfg(incoming={"user": "dev@b.c", "password": "pw"}, **smtp)
    msg = Message("a@b.c", "d@e.f", "s", "x", date=(2026, 1, 1, 0, 0, 0, 0, 0))
    (res,) = client.deliver(cfg, [msg])
    assert res.error.code == code, res.line()
    assert bytes(conn.written) == wire and conn.closed


@pytest.mark.parametrize(
    "exc,first,line",
    [
        # Mbed TLS's (number, name) as plain text, not a tuple.
        (
            OSError(-30592, "MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE"),
            False,
            "#841 No encryption method in common with the server (MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE (-30592))",
        ),
        # The port raises the stack's ALLOC_FAILED as ENOMEM (as it prints: "[Errno 12] ENOMEM").
        (OSError(12, "ENOMEM"), False, "#851 Not enough memory (TLS: [Errno 12] ENOMEM)"),
        (
            OSError(32, "EPIPE"),
            False,
            "#841 No encryption method in common with the server (handshake aborted by the server: [Errno 32] EPIPE)",
        ),
        # An EOF inside the handshake is the network (retry); on the first read after it, the
        # end of a TLS 1.3 handshake the server refused.
        (
            OSError(-29312, "MBEDTLS_ERR_SSL_CONN_EOF"),
            False,
            "#801 Error communicating with the SMTP server (TLS handshake: MBEDTLS_ERR_SSL_CONN_EOF (-29312))",
        ),
        (
            OSError(-29312, "MBEDTLS_ERR_SSL_CONN_EOF"),
            True,
            "#841 No encryption method in common with the server "
            "(handshake aborted by the server: MBEDTLS_ERR_SSL_CONN_EOF (-29312))",
        ),
    ],
)
def test_tls_error_texts_and_codes(exc, first, line):
    err = classify.tls_error(exc, first)
    assert err.line() == line
    assert err.retry == (err.code != 841)


def test_530_greeting_is_801_not_839():
    from mailer.codec import Reply

    err = classify.reply_error("greeting", Reply(530, [b"5.7.0 Authentication required"]))
    assert (err.code, err.retry) == (801, False)
    assert classify.reply_error("auth", Reply(530, [b"5.7.0 Authentication required"])).code == 839
