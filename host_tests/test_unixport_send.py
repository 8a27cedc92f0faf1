# The firmware on the MicroPython Unix port sends real mail to the aiosmtpd dev server on
# loopback over STARTTLS + SMTP AUTH (and implicit TLS), and fails with the right device code.
import email
import email.policy
import json
import os

import mpy
import pytest
import faultcases as fc
import faultserver as fs
import mpsend as ms
from conftest import SMTP_PASSWORD, SMTP_USER

SEND = os.path.join(mpy.ROOT, "tools", "mp_send.py")


def settings_for(tmp_path, server, smtp=None, **top):
    cfg = {
        "version": 1,
        "incoming": {"host": "127.0.0.1", "port": 110, "tls": "starttls", "user": SMTP_USER, "password": SMTP_PASSWORD},
        "smtp": {
            "host": "localhost",
            "port": server.port,
            "tls": "required",
            "auth": "same_as_incoming",
            "verify": "ca",
            "ca_file": server.certs["ca_der"],
            "timeout_s": 5,
            "ehlo_name": "board.test",
        },
        "mail": {"from": "Board <%s>" % SMTP_USER, "to": ["ops@example.com"], "subject_prefix": ""},
        "board": "unix",
    }
    cfg["smtp"].update(smtp or {})
    cfg.update(top)
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def send(path, *args, **kw):
    r = mpy.run([SEND, ms.request(path, *args)], timeout=60, **kw)
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
    assert msg["Message-ID"] == last[len("sent ") :]
    assert msg.get_content() == "line one\r\n.dot line\r\nend\r\n"  # dot-unstuffed by the server


def test_wrong_password_is_839(smtpd, tmp_path):
    path = settings_for(
        tmp_path,
        smtpd,
        incoming={"host": "127.0.0.1", "port": 110, "tls": "starttls", "user": SMTP_USER, "password": "wrong"},
    )
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
    assert "C: AUTH" not in r.stdout and "C: MAIL" not in r.stdout
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
    r = subprocess.run(
        ["make", "-s", "send", "SETTINGS=" + path, "TO=you@example.com", "SUBJECT=From make"],
        cwd=mpy.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("sent <")
    assert smtpd.messages[0]["rcpt_tos"] == ["you@example.com"]


def test_make_send_takes_any_value_byte_for_byte(smtpd, tmp_path):
    # Typed through a shell as a user would: a dollar, backquotes and quotes in the subject, a
    # body over 256 bytes with several lines (the port crashes on such an argument, so values
    # must not reach it on its command line), a Cc with a comma in a quoted name.
    import subprocess

    path = settings_for(tmp_path, smtpd)
    subject = 'Cost $5 `id` and "hi" $(HOME)'
    body = "line one\n" + "x" * 300 + "\nlast line\n"
    cmd = "make -s send SETTINGS=%s TO=you@example.com SUBJECT='%s' BODY='%s' CC='\"Doe, Jane\" <jane@example.com>'" % (
        path,
        subject,
        body,
    )
    r = subprocess.run(cmd, shell=True, cwd=mpy.ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("sent <")
    (m,) = smtpd.messages
    msg = email.message_from_bytes(m["content"], policy=email.policy.default)
    assert msg["Subject"] == subject
    assert msg.get_content().replace("\r\n", "\n") == body
    assert sorted(m["rcpt_tos"]) == ["jane@example.com", "you@example.com"]
    assert msg["Cc"].addresses[0].display_name == "Doe, Jane"


def test_make_send_body_from_stdin_or_file(smtpd, tmp_path):
    import subprocess

    path = settings_for(tmp_path, smtpd)
    r = subprocess.run(
        ["make", "-s", "send", "SETTINGS=" + path, "TO=you@example.com", "BODY=-"],
        input="from stdin\nsecond line\n",
        cwd=mpy.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    body_file = tmp_path / "body.txt"
    body_file.write_text("from a file\n" * 50)
    r = subprocess.run(
        ["make", "-s", "send", "SETTINGS=" + path, "TO=you@example.com", "BODY_FILE=" + str(body_file), "VERBOSE=0"],
        cwd=mpy.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "C: EHLO" not in r.stdout  # VERBOSE=0 is off
    bodies = [
        email.message_from_bytes(m["content"], policy=email.policy.default).get_content().replace("\r\n", "\n")
        for m in smtpd.messages
    ]
    assert bodies == ["from stdin\nsecond line\n", "from a file\n" * 50]


def test_send_tool_help_and_usage():
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "tools.send", "--help"], cwd=mpy.ROOT, capture_output=True, text=True, check=True
    )
    assert "--body-file" in r.stdout and "--settings" in r.stdout
    r = subprocess.run(["make", "-s", "send"], cwd=mpy.ROOT, capture_output=True, text=True)
    assert r.returncode != 0 and "usage: make send SETTINGS=" in r.stderr


# -- partial delivery, strict addresses, local file problems --------------------------------
def _plain(tmp_path, port):
    return ms.make_settings(
        tmp_path, port, {"ca_der": ""}, {"tls": "off", "auth": "none", "verify": "off", "ca_file": ""}
    )


def _script(rcpt_replies):

    steps = [
        ("send", fs.GREETING),
        ("expect", b"EHLO"),
        ("send", b"250-fault.test\r\n250 PIPELINING\r\n"),
        ("expect", b"MAIL"),
        ("send", b"250 Ok\r\n"),
    ]
    for r in rcpt_replies:
        steps += [("expect", b"RCPT"), ("send", r)]
    return steps + [("expect", b"DATA"), ("send", b"354 go\r\n"), ("data",), ("send", fc.OK_FINAL), ("expect", b"QUIT")]


@pytest.mark.parametrize(
    "second,code,last",
    [
        (b"451 4.2.0 Mailbox busy\r\n", 75, "#801 Error communicating with the SMTP server (451 4.2.0 Mailbox busy)"),
        (b"550 5.1.1 No such user\r\n", 0, None),
    ],
)
def test_make_send_with_one_recipient_deferred_or_refused(tmp_path, second, code, last):
    from faultserver import FaultServer

    with FaultServer(_script([b"250 Ok\r\n", second]), linger=2) as srv:
        r, got = send(_plain(tmp_path, srv.port), 'to="Doe, Jane" <jane@fault.test>,boss@fault.test')
        srv.wait_eof()
    lines = r.stdout.strip().splitlines()
    assert r.returncode == code, r.stdout + r.stderr
    assert "refused boss@fault.test: " + second.decode().strip() in lines
    assert lines.index("refused boss@fault.test: " + second.decode().strip()) < len(lines) - 1
    assert got == last if last else got.startswith("sent <")
    assert [c for c in srv.commands if c.startswith(b"RCPT")] == [
        b"RCPT TO:<jane@fault.test>\r\n",
        b"RCPT TO:<boss@fault.test>\r\n",
    ]
    # The name with its comma as an encoded-word (RFC 2047 5(3)): one mailbox, "Doe, Jane".
    assert b"\r\nTo: =?utf-8?B?RG9lLCBKYW5l?= <jane@fault.test>, boss@fault.test\r\n" in srv.bodies[0]


@pytest.mark.parametrize(
    "to,detail",
    [
        ("alice@fault.test(<bob@fault.test>", "to: not an address: alice@fault.test(<bob@fault.test>"),
        ("ops\x1b@fault.test", "to: control character in address"),
        ("ops@fault.test\x7f", "to: control character in address"),
    ],
)
def test_make_send_refuses_ambiguous_and_bad_addresses_before_connecting(tmp_path, to, detail):
    from faultserver import FaultServer

    with FaultServer([("send", b"220 fault.test\r\n")], linger=0.5) as srv:
        r, last = send(_plain(tmp_path, srv.port), "to=" + to)
        assert (r.returncode, last) == (1, "#861 Settings invalid (%s)" % detail)
        assert srv.accepted == 0


def test_make_send_with_too_many_recipients_in_the_settings_is_861(tmp_path):
    # (Through the settings: the Unix port cannot take an argument of more than ~200 bytes.)
    path = _plain(tmp_path, 1)
    cfg = json.loads(open(path).read())
    cfg["mail"]["to"] = ["r%d@fault.test" % i for i in range(101)]
    open(path, "w").write(json.dumps(cfg))
    r, last = send(path)
    assert (r.returncode, last) == (1, "#861 Settings invalid (mail.to: too many recipients (at most 100))")


def test_make_send_attachment_that_is_a_folder_is_861(tmp_path):
    from faultserver import FaultServer

    with FaultServer([("send", b"220 fault.test\r\n")], linger=0.5) as srv:
        r, last = send(_plain(tmp_path, srv.port), "attach=" + str(tmp_path))
        assert (r.returncode, last) == (1, "#861 Settings invalid (attachment is a folder: %s)" % tmp_path)
        assert srv.accepted == 0


def test_make_send_takes_a_relative_ca_file_from_beside_the_settings(smtpd, tmp_path):
    # The same rule as make probe, make deploy and tools.settings: not the current folder.
    import shutil
    import subprocess

    shutil.copy(smtpd.certs["ca_der"], tmp_path / "server-ca.der")
    path = settings_for(tmp_path, smtpd, smtp={"ca_file": "server-ca.der"})
    r = subprocess.run(
        ["make", "-s", "send", "SETTINGS=" + path, "TO=you@example.com"],
        cwd=mpy.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1].startswith("sent <"), r.stdout + r.stderr
