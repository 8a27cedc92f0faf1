# Fault injection on the MicroPython Unix port: tools/mp_send.py, the firmware's
# one-message send, against the scriptable fault server with real sockets and real TLS (Mbed
# TLS on the port's side, CPython's ssl on the server's). Every case checks the printed code,
# the exit status (75 retry, 1 permanent, 0 sent), the time bound, that the client hung up,
# and that no password or base64 form of it is printed even with verbose=1.
import json
import os
import ssl

import faultcases as fc
import faultserver as fs
import mpsend as ms
import mpy
import pytest
from faultserver import FaultServer
from faultcases import Case
from mpsend import SEND, TIMEOUT_S, make_settings, mp_send

SLACK = 1.0  # interpreter start-up and TLS set-up on a loaded 2-core machine


def run_case(case, certs, tmp_path, smtp=None):
    smtp = dict(fc.mode_smtp(object()), **(smtp or {}), **case.smtp)
    with FaultServer(case.steps, linger=5) as srv:
        code, retry, refused, last, out, elapsed = mp_send(make_settings(tmp_path, srv.port, certs, smtp), case.rcpts)
        fc.check(case, code, retry, len(refused), elapsed, srv, TIMEOUT_S, SLACK)
        for secret in fc.b64_forms():
            assert secret.decode() not in out, (case.name, secret)
        if case.name.startswith("421-"):
            assert "(421 4.3.2 Service shutting down)" in last
        return last, out, srv


def _cases():
    # The certificates are made per session by a fixture; the cases only need a context
    # at run time, so collect them with a placeholder and rebuild them in the test.
    marker = object()
    return [c.name for c in fc.stage_cases(marker) + fc.reply_cases(marker) + fc.starttls_cases(marker)]


@pytest.mark.parametrize("name", _cases())
def test_case(name, certs, tmp_path):
    ctx = fs.server_context(certs)
    (case,) = [c for c in fc.stage_cases(ctx) + fc.reply_cases(ctx) + fc.starttls_cases(ctx) if c.name == name]
    last, out, srv = run_case(case, certs, tmp_path)
    if case.code is None:
        assert srv.bodies and b"Subject: Fault test" in srv.bodies[0]
        # The Message-ID printed is the one the server got (the outbox keeps it for retries).
        assert b"Message-ID: " + last[5:].encode() in srv.bodies[0]
    if name == "caps-after-tls":
        assert any(c.startswith(b"AUTH CRAM-MD5") for c in srv.commands)
    if name == "starttls-injection":
        # Stopped before any handshake: nothing that came in clear was used afterwards.
        assert srv.wire().endswith(b"STARTTLS\r\n") and srv.tls_version is None
    if name == "rcpt-partial":
        assert "refused boss@fault.test: 550 5.1.1 No such user" in out and last.startswith("sent <")
    if name == "final-silent":
        # Case 12: the server may have taken the message; the result is retryable and the
        # outbox keeps it (same Message-ID) for the next attempt.
        assert srv.bodies and last.startswith("#801 ") and "timed out" in last


@pytest.mark.parametrize("variant", ["selfsigned", "wrongname", "expired"])
def test_certificate_rejected_is_863(variant, certs, tmp_path):
    case = Case("cert-" + variant, fs.to_starttls(fs.server_context(certs, variant)), 863, False, secret_free=True)
    last, out, srv = run_case(case, certs, tmp_path)
    assert srv.handshake_error


def test_pin_mismatch_is_863(certs, tmp_path):
    case = Case(
        "pin",
        fs.to_starttls(fs.server_context(certs)),
        863,
        False,
        secret_free=True,
        smtp={"verify": "pin", "pin_sha256": "00" * 32},
    )
    last, _, _ = run_case(case, certs, tmp_path)
    assert last == "#863 Server certificate rejected (certificate fingerprint differs from the pinned one)"


def test_implicit_tls_sent(certs, tmp_path):
    steps = [("send", fs.GREETING)] + fs.auth_plain_ok() + fs.transaction()
    with FaultServer(steps, implicit=fs.server_context(certs), linger=5) as srv:
        path = make_settings(tmp_path, srv.port, certs, {"tls": "implicit", "mechanisms": ["PLAIN"]})
        code, _, _, last, _, _ = mp_send(path)
        assert code is None and srv.tls_version and srv.wait_eof(3)


def test_client_certificate_required_is_841_on_mbedtls(certs, tmp_path):
    # The port's Mbed TLS 3.6 offers TLS 1.2 only (its ClientHello lists no TLS 1.3 suite).
    # It answers the CertificateRequest with an empty Certificate; OpenSSL then sends alert 40
    # (handshake_failure, "peer did not return a certificate"), which Mbed TLS reports as
    # (-30592, 'MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE') without the alert's number: the same
    # as any other fatal alert, so the table's rule applies: #841. (CPython's client, on TLS
    # 1.3, reads alert 116 certificate_required and gives #842: test_faults_host.py.)
    case = Case("client-cert", fs.to_starttls(fs.server_context(certs, client_ca=True)), 841, False, secret_free=True)
    last, out, srv = run_case(case, certs, tmp_path)
    # The stack's error as plain text: its name and number, not a Python tuple.
    assert last == (
        "#841 No encryption method in common with the server (MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE (-30592))"
    )
    assert "did not return a certificate" in srv.handshake_error


@pytest.mark.parametrize("mode", fc.ABORT_MODES)
def test_reset_after_certificate_request_is_841_not_retried(mode, certs, tmp_path):
    # The server resets the connection instead of sending an alert (Mbed TLS here speaks TLS
    # 1.2 whatever the server allows): a verdict, not "#801 ... (TLS handshake: 104)", retried.
    last, out, srv = run_case(fc.abort_case(certs, mode), certs, tmp_path)
    assert last.startswith("#841 No encryption method in common with the server (handshake aborted by the server: "), (
        last
    )
    assert srv.handshake_error and srv.tls_version is None


def _tls13_only(certs):
    ctx = fs.server_context(certs)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


@pytest.mark.parametrize("server", ["chacha20-only", "tls13-only"])
def test_nothing_in_common_is_841(server, certs, tmp_path):
    # Mbed TLS here has no ChaCha20-Poly1305 suite and no TLS 1.3.
    ctx = fs.tls12_context(certs, "ECDHE-ECDSA-CHACHA20-POLY1305") if server == "chacha20-only" else _tls13_only(certs)
    case = Case(server, fs.to_starttls(ctx), 841, False, secret_free=True)
    last, out, srv = run_case(case, certs, tmp_path)
    assert "MBEDTLS_ERR_SSL" in last and srv.handshake_error


def test_unresolvable_host_is_802(certs, tmp_path):
    path = make_settings(tmp_path, 25, certs)
    cfg = json.loads(open(path).read())
    cfg["smtp"]["host"] = "nonexistent.invalid"
    open(path, "w").write(json.dumps(cfg))
    code, retry, _, last, _, elapsed = mp_send(path)
    assert (code, retry) == (802, True) and elapsed < TIMEOUT_S + SLACK
    assert last.startswith("#802 SMTP server name cannot be resolved (nonexistent.invalid: ")


def test_connection_refused_is_801(certs, tmp_path):
    code, retry, _, last, _, elapsed = mp_send(make_settings(tmp_path, fs.free_port(), certs))
    assert (code, retry) == (801, True) and "refused" in last and elapsed < TIMEOUT_S + SLACK


def test_crlf_in_subject_is_861(certs, tmp_path):
    # Nothing is sent: the header injection is refused before any connection.
    with FaultServer([("send", fs.GREETING)], linger=0.5) as srv:
        path = make_settings(tmp_path, srv.port, certs)
        r = mpy.run([SEND, ms.request(path, "subject=Hi\r\nBcc: x@y.z")])
        assert r.returncode == 1
        assert r.stdout.strip().splitlines()[-1] == "#861 Settings invalid (subject: CR/LF/NUL not allowed)"
        assert srv.accepted == 0


# Case 5 "in bounded memory", measured: the session's modules precompiled (as on a board, where
# compiling from source would not fit either) in a 56 KiB heap (64-bit port), less than the
# 100 KB line or the endless reply the server sends. Holding either would end in MemoryError
# (#851); so did the trail of copies a reply of many lines once left (codec.ReplyReader).
_BOUNDED = """
import gc
from mailer import classify, transport
from mailer.compat import deadline, once
from mailer.session import Session
gc.collect()  # as main.py would after its imports: a 56 KiB heap leaves no room for waste
c = once("dial", "connect", "127.0.0.1", %d, 1000, deadline(3000), transport.TlsConfig("off"))
s = Session(c, b"mailer.local", tls="off")
try:
    s.run(s.open())
    print("opened")
except Exception as e:
    print(classify.exception(e, s.stage).line())
c.close()
"""


@pytest.fixture(scope="module")
def mpy_dir(tmp_path_factory):
    modules = ("__init__", "compat", "errors", "codes", "codec", "classify", "transport", "dial", "session")
    modules += ("handshake", "details", "tlsctx")
    return mpy.compile_firmware(tmp_path_factory.mktemp("mpy"), modules)


@pytest.mark.parametrize("name", ["bad-long-line", "bad-endless-multiline"])
def test_bad_replies_in_bounded_memory(name, mpy_dir):
    import subprocess

    (case,) = [c for c in fc.reply_cases(None) if c.name == name]
    with FaultServer(case.steps, linger=3) as srv:
        env = dict(os.environ, MICROPYPATH=mpy_dir + ":.frozen")
        r = subprocess.run(
            [mpy.micropython_path(), "-X", "heapsize=56k", "-c", _BOUNDED % srv.port],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        assert r.stdout.startswith("#801 Error communicating with the SMTP server (bad reply: "), r.stdout + r.stderr
        assert srv.wait_eof(3)
