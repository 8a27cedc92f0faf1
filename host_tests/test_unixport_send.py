# The firmware on the MicroPython Unix port sends real mail to the aiosmtpd dev server on
# loopback over STARTTLS + SMTP AUTH (and implicit TLS), and fails with the right device code.
import email
import email.policy
import json
import os

import mpy
import pytest
from conftest import SMTP_PASSWORD, SMTP_USER

pytestmark = pytest.mark.unixport
SEND = os.path.join(mpy.ROOT, "tools", "mp_send.py")
BOARDS = os.path.join(mpy.ROOT, "boards")


def settings_for(tmp_path, server, smtp=None, **top):
    cfg = {
        "version": 1,
        "incoming": {"host": "127.0.0.1", "port": 110, "tls": "starttls", "user": SMTP_USER, "password": SMTP_PASSWORD},
        "smtp": {"host": "localhost", "port": server.port, "tls": "required", "auth": "same_as_incoming",
                 "verify": "ca", "ca_file": server.certs["ca_der"], "timeout_s": 5, "ehlo_name": "board.test"},
        "mail": {"from": "Board <%s>" % SMTP_USER, "to": ["ops@example.com"], "subject_prefix": ""},
        "board": "unix",
    }
    cfg["smtp"].update(smtp or {})
    cfg.update(top)
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def send(path, *args, **kw):
    r = mpy.run([SEND, "settings=" + path, "boards=" + BOARDS, *args], timeout=60, **kw)
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    return r, last


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_starttls_auth_sends_exact_message(smtpd, tmp_path, mech):
    path = settings_for(tmp_path, smtpd, {"mechanisms": [mech]})
    r, last = send(path, "subject=Report 7", "body=line one\n.dot line\nend\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert last.startswith("sent <") and last.endswith(">")
    (rec,) = smtpd.messages
    assert rec["tls"] and rec["user"] == SMTP_USER and rec["mechanism"] == mech
    assert rec["mail_from"] == SMTP_USER and rec["rcpt_tos"] == ["ops@example.com"]
    assert rec["ehlo"] == "board.test"
    msg = email.message_from_bytes(rec["content"], policy=email.policy.default)
    assert msg["Subject"] == "Report 7"
    assert msg["Message-ID"] == last[len("sent "):]
    assert msg.get_content() == "line one\r\n.dot line\r\nend\r\n"  # dot-unstuffed by the server


def test_wrong_password_is_839(smtpd, tmp_path):
    path = settings_for(tmp_path, smtpd, incoming={"host": "127.0.0.1", "port": 110, "tls": "starttls",
                                                   "user": SMTP_USER, "password": "wrong"})
    r, last = send(path)
    assert r.returncode == 1
    assert last == "#839 SMTP authentication failed (535 5.7.8 Authentication credentials invalid)"
    assert smtpd.messages == []
    assert "wrong" not in r.stdout + r.stderr


def test_starttls_not_offered_is_862(smtpd_factory, tmp_path):
    server = smtpd_factory(starttls=False, implicit=False)
    r, last = send(settings_for(tmp_path, server), "verbose=1")
    assert r.returncode == 1
    assert last == "#862 Encryption required but not available (server does not offer STARTTLS)"
    assert "AUTH" not in r.stdout and "MAIL" not in r.stdout
    assert server.messages == []


def test_untrusted_certificate_is_863(smtpd_factory, tmp_path):
    server = smtpd_factory(cert="selfsigned", implicit=False)
    r, last = send(settings_for(tmp_path, server))
    assert r.returncode == 1
    assert last.startswith("#863 Server certificate rejected")
    assert server.messages == []


def test_implicit_tls(smtpd, tmp_path):
    path = settings_for(tmp_path, smtpd, {"port": smtpd.implicit_port, "tls": "implicit"})
    r, last = send(path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert smtpd.messages[0]["tls"]


def test_pinned_certificate(smtpd, tmp_path):
    pin = smtpd.certs["server_sha256"]
    ok = settings_for(tmp_path, smtpd, {"verify": "pin", "pin_sha256": pin})
    assert send(ok)[0].returncode == 0
    bad = settings_for(tmp_path, smtpd, {"verify": "pin", "pin_sha256": "00" * 32})
    r, last = send(bad)
    assert last == "#863 Server certificate rejected (certificate fingerprint differs from the pinned one)"
    assert len(smtpd.messages) == 1


def test_runs_with_optimisation(smtpd, tmp_path):
    # -O1 strips assert statements: nothing may depend on them.
    r, last = send(settings_for(tmp_path, smtpd), opt="1")
    assert r.returncode == 0, r.stdout + r.stderr
    r, last = send(settings_for(tmp_path, smtpd, {"port": 1}), opt="1")
    assert r.returncode == 75 and last.startswith("#801 ")


def test_make_send_prints_the_result_last(smtpd, tmp_path):
    # The README's bench-test command, as a user types it (CC unset: make's own CC is "cc").
    import subprocess

    path = settings_for(tmp_path, smtpd)
    r = subprocess.run(["make", "-s", "send", "SETTINGS=" + path, "TO=you@example.com", "SUBJECT=From make"],
                       cwd=mpy.ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("sent <")
    assert smtpd.messages[0]["rcpt_tos"] == ["you@example.com"]
