# The seed's send settings, end to end on the Unix port: "use same settings as my incoming
# server", "Log on using", POP before SMTP against a real Dovecot, and the four TLS choices
# (required / opportunistic = "allow SSL" ON / off = "allow SSL" OFF / implicit).
import json
import os

import mpy
import pytest
import mpsend as ms
from conftest import SMTP_PASSWORD, SMTP_USER

from tools.devpop3 import DevPop3, dovecot_path

SEND = os.path.join(mpy.ROOT, "tools", "mp_send.py")


def write(tmp_path, smtp, incoming=None):
    cfg = {
        "version": 1,
        "incoming": incoming or {"host": "127.0.0.1", "port": 110, "tls": "starttls", "user": "", "password": ""},
        "smtp": dict({"host": "localhost", "verify": "ca", "timeout_s": 5}, **smtp),
        "mail": {"from": SMTP_USER, "to": ["ops@example.com"]},
    }
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def send(path, *args):
    r = mpy.run([SEND, ms.request(path, *args)], timeout=60)
    lines = r.stdout.strip().splitlines()
    return r.returncode, (lines[-1] if lines else r.stderr)


def test_same_as_incoming_uses_only_the_incoming_account(smtpd, tmp_path):
    path = write(
        tmp_path,
        {"port": smtpd.port, "ca_file": smtpd.certs["ca_der"]},
        {"host": "127.0.0.1", "port": 110, "tls": "starttls", "user": SMTP_USER, "password": SMTP_PASSWORD},
    )
    rc, last = send(path)
    assert rc == 0, last
    assert smtpd.messages[0]["user"] == SMTP_USER


def test_log_on_using_uses_its_own_account(smtpd_factory, tmp_path):
    server = smtpd_factory(users={"smtp-only@example.com": "own-Pa55", SMTP_USER: "other"})
    path = write(
        tmp_path,
        {
            "port": server.port,
            "ca_file": server.certs["ca_der"],
            "auth": "log_on_using",
            "user": "smtp-only@example.com",
            "password": "own-Pa55",
        },
        {"host": "127.0.0.1", "port": 110, "tls": "starttls", "user": SMTP_USER, "password": SMTP_PASSWORD},
    )
    rc, last = send(path)
    assert rc == 0, last
    assert server.messages[0]["user"] == "smtp-only@example.com"


@pytest.fixture(scope="module")
def dovecot(certs):
    if dovecot_path() is None and not os.environ.get("CI"):
        pytest.skip("dovecot not installed (apt-get install dovecot-pop3d)")
    server = DevPop3(certs=certs, user=SMTP_USER, password=SMTP_PASSWORD).start()
    yield server
    server.stop()


def dovecot_account(dovecot, password=SMTP_PASSWORD):
    # The incoming group for the Dovecot fixture: its STLS port and the test account.
    return {"host": "127.0.0.1", "port": dovecot.port, "tls": "starttls", "user": SMTP_USER, "password": password}


def test_pop_before_smtp_logs_in_to_dovecot_then_sends_without_auth(dovecot, smtpd_factory, tmp_path):
    server = smtpd_factory(auth_required=False)
    incoming = dovecot_account(dovecot)
    smtp = {"port": server.port, "ca_file": server.certs["ca_der"], "auth": "pop_before_smtp"}
    path = write(tmp_path, smtp, incoming)
    before = dovecot.log().count("Login: user=<%s>" % SMTP_USER)
    rc, last = send(path)
    assert rc == 0, last
    assert dovecot.log().count("Login: user=<%s>" % SMTP_USER) == before + 1
    rec = server.messages[0]
    assert rec["user"] is None and rec["tls"]
    # VERBOSE=1 shows the POP3 dialogue too, and every line of every SMTP reply; never the password.
    r = mpy.run([SEND, ms.request(path, "verbose=1")], timeout=60)
    lines = r.stdout.splitlines()
    assert "C: STLS" in lines and "C: USER %s" % SMTP_USER in lines and "C: PASS ***" in lines, r.stdout
    assert any(ln.startswith("S: +OK") for ln in lines)
    assert any(ln.startswith("S: 250-") for ln in lines) and "S: 250 HELP" in lines  # EHLO, all lines
    assert SMTP_PASSWORD not in r.stdout + r.stderr


def test_pop_before_smtp_wrong_password_is_810_and_nothing_sent(dovecot, smtpd_factory, tmp_path):
    server = smtpd_factory(auth_required=False)
    incoming = dovecot_account(dovecot, password="wrong")
    smtp = {"port": server.port, "ca_file": server.certs["ca_der"], "auth": "pop_before_smtp"}
    path = write(tmp_path, smtp, incoming)
    rc, last = send(path)
    assert rc == 1 and last.startswith("#810 POP server error"), last
    assert server.messages == []


def test_same_account_works_at_the_pop3_server_and_for_smtp_auth(dovecot, smtpd, tmp_path):
    # The seed's default shares one account between reception and sending: the incoming
    # account logs in at the real POP3 server, and the same account passes SMTP AUTH.
    # The POP3 login as the client makes it for POP before SMTP (with the incoming account),
    # then a connection to the SMTP server, closed unopened.
    code = (
        "from mailer import settings\nfrom mailer.client import Client\n"
        "cfg = settings.load(%r)\ncfg['smtp']['auth'] = 'pop_before_smtp'\n"
        "Client(cfg).session().conn.close()\nprint('pop ok')\n"
    )
    incoming = dovecot_account(dovecot)
    path = write(tmp_path, {"port": smtpd.port, "ca_file": smtpd.certs["ca_der"]}, incoming)
    r = mpy.run_code(code % path)
    assert r.stdout.strip() == "pop ok", r.stdout + r.stderr
    rc, last = send(path)
    assert rc == 0 and smtpd.messages[0]["user"] == SMTP_USER


def test_opportunistic_encrypts_when_offered(smtpd_factory, tmp_path):
    server = smtpd_factory(require_tls=False)
    path = write(
        tmp_path,
        {"port": server.port, "ca_file": server.certs["ca_der"], "tls": "opportunistic"},
        {"host": "h", "port": 110, "tls": "off", "user": SMTP_USER, "password": SMTP_PASSWORD},
    )
    assert send(path)[0] == 0
    assert server.messages[0]["tls"] and server.messages[0]["user"] == SMTP_USER


def test_opportunistic_without_starttls_sends_in_clear_only_when_allowed(smtpd_factory, tmp_path):
    server = smtpd_factory(starttls=False, implicit=False)
    smtp = {"port": server.port, "ca_file": server.certs["ca_der"], "tls": "opportunistic"}
    inc = {"host": "h", "port": 110, "tls": "off", "user": SMTP_USER, "password": SMTP_PASSWORD}
    rc, last = send(write(tmp_path, smtp, inc))
    assert rc == 1 and last == "#862 Encryption required but not available (refusing to send the password without TLS)"
    assert server.messages == []
    rc, last = send(write(tmp_path, dict(smtp, allow_plain_password=True), inc))
    assert rc == 0, last
    assert not server.messages[0]["tls"] and server.messages[0]["user"] == SMTP_USER


def test_off_never_starts_tls_even_when_offered(smtpd_factory, tmp_path):
    server = smtpd_factory(require_tls=False, auth_required=False)
    path = write(tmp_path, {"port": server.port, "tls": "off", "auth": "none"})
    rc, last = send(path, "verbose=1")
    assert rc == 0, last
    assert not server.messages[0]["tls"]
    r = mpy.run([SEND, ms.request(path, "verbose=1")])
    assert "C: STARTTLS" not in r.stdout


def test_required_and_implicit(smtpd, tmp_path):
    inc = {"host": "h", "port": 110, "tls": "off", "user": SMTP_USER, "password": SMTP_PASSWORD}
    assert send(write(tmp_path, {"port": smtpd.port, "ca_file": smtpd.certs["ca_der"], "tls": "required"}, inc))[0] == 0
    smtp = {"port": smtpd.implicit_port, "ca_file": smtpd.certs["ca_der"], "tls": "implicit"}
    assert send(write(tmp_path, smtp, inc))[0] == 0
    assert [m["tls"] for m in smtpd.messages] == [True, True]
