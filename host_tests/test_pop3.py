# POP3 login (mailer.pop3): exact bytes against FakeConn, then a real Dovecot pop3d
# (tools/devpop3.py) with the client on CPython and on the MicroPython Unix port.
import json
import os
import socket

import mp_pop3_login
import mpy
import pytest
from fakeconn import FakeConn

from mailer import pop3
from mailer.codes import CERT, COMM, POP, SETTINGS
from mailer.errors import MailError
from tools.devpop3 import DevPop3, dovecot_path

# ---------------------------------------------------------------- exact bytes (FakeConn)

GREETING = b"+OK POP3 server ready\r\n"
RFC_GREETING = b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"


def fail(script, tls_mode="starttls", conn=None, **kw):
    conn = conn or FakeConn(script)
    with pytest.raises(MailError) as ei:
        pop3.login(conn, b"dev", b"s3cret", tls_mode, **kw)
    e = ei.value
    assert "s3cret" not in e.line()
    return e, conn


def test_user_pass_over_stls_exact_bytes():
    conn = FakeConn([GREETING, b"+OK Begin TLS\r\n", b"+OK\r\n", b"+OK Logged in.\r\n", b"+OK bye\r\n"])
    assert pop3.login(conn, b"dev@example.com", b"s3cret", "starttls") is None
    assert conn.written == b"STLS\r\n<TLS>USER dev@example.com\r\nPASS s3cret\r\nQUIT\r\n"
    assert conn.script == []  # QUIT's answer was read: the server ended the session cleanly


def test_apop_rfc1939_example_digest():
    # RFC 1939 7: timestamp + "tanstaaf" -> c4c9334bac560ecc979e58001b3e22fb; in clear, since
    # only the digest goes on the wire.
    conn = FakeConn([RFC_GREETING, b"+OK maildrop has 1 message\r\n", b"+OK\r\n"])
    pop3.login(conn, b"mrose", b"tanstaaf", "off")
    assert conn.written == b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\nQUIT\r\n"


def test_apop_after_stls_uses_the_greeting_timestamp():
    conn = FakeConn([RFC_GREETING, b"+OK\r\n", b"+OK\r\n", b"+OK\r\n"])
    pop3.login(conn, b"mrose", b"tanstaaf", "starttls")
    assert conn.written == b"STLS\r\n<TLS>APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\nQUIT\r\n"


def test_apop_false_uses_user_pass_despite_timestamp():
    conn = FakeConn([RFC_GREETING, b"+OK\r\n", b"+OK\r\n", b"+OK\r\n"], tls=True)
    pop3.login(conn, b"mrose", b"tanstaaf", "implicit", apop=False)
    assert conn.written == b"USER mrose\r\nPASS tanstaaf\r\nQUIT\r\n"


def test_no_password_in_clear_without_tls():
    e, conn = fail([GREETING], "off")
    assert (e.code, e.retry) == (POP, False)
    assert "without TLS" in e.detail and conn.written == b""


def test_plain_password_in_clear_when_allowed():
    conn = FakeConn([GREETING, b"+OK\r\n", b"+OK\r\n", b"+OK\r\n"])
    pop3.login(conn, b"dev", b"s3cret", "off", allow_plain_password=True)
    assert conn.written == b"USER dev\r\nPASS s3cret\r\nQUIT\r\n"


def test_stls_refused_sends_no_credentials():
    e, conn = fail([GREETING, b"-ERR Unknown command\r\n"], allow_plain_password=True)
    assert (e.code, e.retry) == (POP, False)
    assert e.line() == "#810 POP server error (server does not offer STLS)"
    assert conn.written == b"STLS\r\n"


def test_stls_response_injection_refused_before_handshake():
    e, conn = fail([GREETING, b"+OK Begin TLS\r\n+OK injected\r\n"])
    assert (e.code, e.retry) == (POP, False) and "injected" in e.detail
    assert conn.written == b"STLS\r\n"


def test_handshake_failure_keeps_its_code_in_the_text():
    conn = FakeConn([GREETING, b"+OK\r\n"], handshake_error=MailError(CERT, "not correctly signed"))
    e, _ = fail(None, conn=conn)
    assert (e.code, e.retry) == (POP, False)
    assert e.detail.startswith("stls: #863 Server certificate rejected")


@pytest.mark.parametrize(
    "reply, retry",
    [
        (b"-ERR [AUTH] Authentication failed.", False),
        (b"-ERR [IN-USE] Mailbox locked", True),  # RFC 2449 8.1.1
        (b"-ERR [SYS/TEMP] Try again later", True),  # RFC 3206 4
    ],
)
def test_err_on_pass(reply, retry):
    e, conn = fail([GREETING, b"+OK\r\n", b"+OK\r\n", reply + b"\r\n"])
    assert (e.code, e.retry, e.reply) == (POP, retry, reply.decode())
    assert e.line() == "#810 POP server error (%s)" % reply.decode()
    assert conn.written == b"STLS\r\n<TLS>USER dev\r\nPASS s3cret\r\n"


def test_err_on_apop_is_permanent():
    e, conn = fail([RFC_GREETING, b"-ERR permission denied\r\n"], "off")
    assert (e.code, e.retry, e.reply) == (POP, False, "-ERR permission denied")


def test_err_greeting_is_retryable():
    e, conn = fail([b"-ERR too many connections\r\n"])
    assert (e.code, e.retry) == (POP, True) and conn.written == b""


def test_server_text_is_made_printable():
    e, _ = fail([b"-ERR \x1b[2Jbad\xff\r\n"])
    assert e.reply == "-ERR ?[2Jbad?"


def test_reply_split_across_reads():
    conn = FakeConn([b"+O", b"K rea", b"dy\r", b"\n", b"+OK\r\n+OK\r\n", b"+OK\r\n"], tls=True)
    pop3.login(conn, b"dev", b"s3cret", "implicit")
    assert conn.written == b"USER dev\r\nPASS s3cret\r\nQUIT\r\n"


def test_line_of_512_octets_is_accepted_513_is_not():
    ok = b"+OK " + b"x" * 506 + b"\r\n"
    assert len(ok) == 512
    conn = FakeConn([ok, b"+OK\r\n", b"+OK\r\n", b"+OK\r\n"], tls=True)
    pop3.login(conn, b"dev", b"s3cret", "implicit")
    e, _ = fail([b"+OK " + b"x" * 507 + b"\r\n"])
    assert (e.code, e.retry) == (POP, False) and "over 512 octets" in e.detail


def test_endless_line_stops_after_512_octets():
    conn = FakeConn([b"+OK " + b"x" * 96] + [b"x" * 100] * 50)
    e, _ = fail(None, conn=conn)
    assert "over 512 octets during greeting" in e.detail
    assert conn.reads == 6  # 6 x 100 bytes, not the 5000 on offer


def test_timeout_is_retryable_810():
    e, _ = fail([GREETING, b"+OK\r\n", None], "starttls")
    assert (e.code, e.retry) == (POP, True)
    assert e.detail == "login: #%d Error communicating with the SMTP server (read timed out)" % COMM


def test_closed_during_greeting():
    e, _ = fail([])
    assert (e.code, e.retry) == (POP, True)
    assert e.detail == "connection closed by server during greeting"


def test_quit_without_answer_is_still_a_login():
    conn = FakeConn([GREETING, b"+OK\r\n", b"+OK\r\n", b"+OK\r\n"])  # then closed
    pop3.login(conn, b"dev", b"s3cret", "starttls")
    assert conn.written.endswith(b"QUIT\r\n")


@pytest.mark.parametrize("user, password", [(b"dev\r\nDELE 1", b"pw"), (b"dev", b"pw\r\nDELE 1")])
def test_crlf_in_credentials_is_861_before_sending(user, password):
    conn = FakeConn([GREETING, b"+OK\r\n", b"+OK\r\n"])
    with pytest.raises(MailError) as ei:
        pop3.login(conn, user, password, "starttls")
    assert ei.value.code == SETTINGS
    assert b"DELE" not in conn.written


# ---------------------------------------------------------------- a real Dovecot pop3d


def _start(**kw):
    # Skipped only where dovecot is missing outside CI; under CI, DevPop3.start() fails.
    if dovecot_path() is None and not os.environ.get("CI"):
        pytest.skip("dovecot not installed (apt-get install dovecot-pop3d)")
    return DevPop3(**kw).start()


@pytest.fixture(scope="module")
def dovecot(certs):
    server = _start(certs=certs)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dovecot_no_ssl(certs):
    server = _start(certs=certs, ssl=False)
    yield server
    server.stop()


def closed_port():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings(server, tls, port=None, **smtp):
    # A settings file's content for POP before SMTP to `server`, then SMTP to a closed port
    # (see mp_pop3_login.py).
    cfg = {
        "incoming": {
            "host": "127.0.0.1",
            "port": port or server.port,
            "tls": tls,
            "user": server.user,
            "password": server.password,
        },
        "smtp": {
            "host": "127.0.0.1",
            "port": closed_port(),
            "auth": "pop_before_smtp",
            "verify": "ca",
            "ca_file": server.certs["ca_der"],
            "timeout_s": 5,
            "allow_plain_password": False,
        },
        "mail": {"from": "dev@example.com"},
    }
    cfg["smtp"].update(smtp)
    return cfg


def run(runner, cfg):
    text = json.dumps(cfg)
    if runner == "cpython":
        return mp_pop3_login.main(text)
    r = mpy.run([os.path.join(mpy.ROOT, "host_tests", "mp_pop3_login.py")], input=text, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.strip()


def sessions(server, before):
    # Dovecot's log lines for the logins since `before` (a length of the log).
    return [ln for ln in server.log()[before:].splitlines() if "Login: user=" in ln]


RUNNERS = pytest.mark.parametrize("runner", ["cpython", "unixport"])


@RUNNERS
def test_user_pass_over_stls(dovecot, runner):
    n = len(dovecot.log())
    assert run(runner, settings(dovecot, "starttls")) == "ok"
    (line,) = sessions(dovecot, n)
    assert "user=<%s>, method=PLAIN" % dovecot.user in line and ", TLS," in line


@RUNNERS
def test_implicit_tls(dovecot, runner):
    n = len(dovecot.log())
    assert run(runner, settings(dovecot, "implicit", dovecot.pop3s_port)) == "ok"
    (line,) = sessions(dovecot, n)
    assert "method=PLAIN" in line and ", TLS," in line


@RUNNERS
def test_apop_in_clear(dovecot, runner):
    n = len(dovecot.log())
    assert run(runner, settings(dovecot, "off")) == "ok"
    (line,) = sessions(dovecot, n)
    assert "method=APOP" in line and "TLS" not in line


def test_apop_over_stls_on_cpython(dovecot):
    from mailer import transport
    from mailer.compat import deadline, once

    ca = dovecot.certs["ca_der"]
    conn = once("dial", "connect", "127.0.0.1", dovecot.port, 5000, deadline(10000), transport.TlsConfig("ca", ca))
    n = len(dovecot.log())
    try:
        pop3.login(conn, dovecot.user.encode(), dovecot.password.encode(), "starttls")
    finally:
        conn.close()
    (line,) = sessions(dovecot, n)
    assert "method=APOP" in line and ", TLS," in line


@RUNNERS
def test_wrong_password_is_810_not_retried(dovecot, runner):
    cfg = settings(dovecot, "starttls")
    cfg["incoming"]["password"] = "wrong-Pa55"
    out = run(runner, cfg)
    assert out == "810 False #810 POP server error (-ERR [AUTH] Authentication failed.)"


@RUNNERS
def test_untrusted_certificate_is_810_not_retried(dovecot, runner):
    # Signed by another CA: the transport's #863 becomes #810, and no login happens.
    n = len(dovecot.log())
    out = run(runner, settings(dovecot, "starttls", ca_file=dovecot.certs["client_ca_pem"]))
    assert out.startswith("810 False #810 POP server error (stls: #863 Server certificate rejected")
    assert sessions(dovecot, n) == []


@RUNNERS
def test_stls_missing_sends_no_password(dovecot_no_ssl, runner):
    n = len(dovecot_no_ssl.log())
    out = run(runner, settings(dovecot_no_ssl, "starttls", allow_plain_password=True))
    assert out == "810 False #810 POP server error (server does not offer STLS)"
    log = dovecot_no_ssl.log()[n:]
    assert "no auth attempts" in log and "Login:" not in log


@RUNNERS
def test_server_down_is_810_retried(runner):
    port = closed_port()
    cfg = {
        "incoming": {"host": "127.0.0.1", "port": port, "tls": "starttls", "user": "u", "password": "p"},
        "smtp": {
            "host": "127.0.0.1",
            "port": closed_port(),
            "auth": "pop_before_smtp",
            "verify": "off",
            "timeout_s": 5,
        },
        "mail": {"from": "dev@example.com"},
    }
    out = run(runner, cfg)
    assert out == (
        "810 True #810 POP server error (connect: #801 Error communicating with the SMTP "
        "server (connection to 127.0.0.1:%d refused))" % port
    )
