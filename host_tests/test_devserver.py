# The dev mail server (tools/devserver.py) and test certificates (tools/certs.py), checked with
# CPython's smtplib and ssl as the client, and once with the MicroPython Unix port's ssl (mbedTLS).
import hashlib
import json
import os
import smtplib
import socket
import ssl
import subprocess
import sys

import mpy
import pytest
from conftest import SMTP_PASSWORD, SMTP_USER

from faultserver import free_port

from tools import devserver

MESSAGE = b"From: device@example.com\r\nTo: ops@example.com\r\nSubject: hello\r\n\r\nline 1\r\n.dot\r\n"


def client_context(certs):
    ctx = ssl.create_default_context(cafile=certs["ca_pem"])
    return ctx


def starttls(server, certs):
    c = smtplib.SMTP("127.0.0.1", server.port, local_hostname="board.local", timeout=5)
    c.starttls(context=client_context(certs))
    c.ehlo("board.local")
    return c


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_starttls_auth_records_message(smtpd, certs, mech):
    with starttls(smtpd, certs) as c:
        assert c.has_extn("auth") and set(c.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN", "CRAM-MD5"}
        c.user, c.password = SMTP_USER, SMTP_PASSWORD
        code, _ = c.auth(mech, getattr(c, "auth_" + mech.lower().replace("-", "_")))
        assert code == 235
        c.sendmail("device@example.com", ["ops@example.com", "b@example.com"], MESSAGE)
    [rec] = smtpd.messages
    assert rec["mail_from"] == "device@example.com"
    assert rec["rcpt_tos"] == ["ops@example.com", "b@example.com"]
    # The exact bytes, dot-unstuffed (smtplib stuffed ".dot" as "..dot").
    assert rec["content"] == MESSAGE
    assert rec["tls"] is True and rec["tls_version"].startswith("TLS")
    assert (rec["user"], rec["mechanism"], rec["ehlo"]) == (SMTP_USER, mech, "board.local")
    text = devserver.summary(rec)
    assert "subject: hello" in text and "user:    device@example.com (%s)" % mech in text
    assert "TLS:     yes" in text


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_wrong_password_gets_535(smtpd, certs, mech):
    with starttls(smtpd, certs) as c:
        c.user, c.password = SMTP_USER, "wrong"
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            c.auth(mech, getattr(c, "auth_" + mech.lower().replace("-", "_")))
        assert e.value.args == (535, b"5.7.8 Authentication credentials invalid")
        assert c.noop()[0] == 250  # the session goes on after the refusal
    assert smtpd.messages == []


def test_unknown_user_cram_md5_gets_535(smtpd, certs):
    with starttls(smtpd, certs) as c:
        c.user, c.password = "nobody@example.com", SMTP_PASSWORD
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            c.auth("CRAM-MD5", c.auth_cram_md5)
        assert e.value.smtp_code == 535


def test_auth_and_mail_before_starttls_refused(smtpd):
    with smtplib.SMTP("127.0.0.1", smtpd.port, timeout=5) as c:
        c.ehlo("board.local")
        assert c.has_extn("starttls") and not c.has_extn("auth")
        assert c.docmd("AUTH", "PLAIN AGRldmljZUBleGFtcGxlLmNvbQBzM2NyZXQtUGE1NQ==")[0] in (530, 538)
        assert c.docmd("MAIL", "FROM:<device@example.com>")[0] == 530
    assert smtpd.messages == []


def test_mail_without_auth_refused_after_starttls(smtpd, certs):
    with starttls(smtpd, certs) as c:
        assert c.docmd("MAIL", "FROM:<device@example.com>") == (530, b"5.7.0 Authentication required")


def test_implicit_tls_port(smtpd, certs):
    with smtplib.SMTP_SSL(
        "127.0.0.1", smtpd.implicit_port, local_hostname="board.local", context=client_context(certs), timeout=5
    ) as c:
        c.ehlo("board.local")
        assert not c.has_extn("starttls")
        c.login(SMTP_USER, SMTP_PASSWORD)
        c.sendmail("device@example.com", ["ops@example.com"], MESSAGE)
    [rec] = smtpd.messages
    assert rec["tls"] is True and rec["user"] == SMTP_USER and rec["content"] == MESSAGE


def test_pipelining_listed_after_starttls(smtpd, certs):
    with starttls(smtpd, certs) as c:
        assert c.has_extn("pipelining")
        assert c.esmtp_features["size"] == str(devserver.DEFAULT_SIZE)


def test_pipelined_commands_answered_in_order(smtpd, certs):
    with starttls(smtpd, certs) as c:
        c.login(SMTP_USER, SMTP_PASSWORD)
        c.send(b"MAIL FROM:<device@example.com>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        assert [c.getreply()[0] for _ in range(4)] == [250, 250, 250, 354]
        c.send(MESSAGE + b".\r\n")
        assert c.getreply()[0] == 250
    assert smtpd.messages[0]["rcpt_tos"] == ["a@example.com", "b@example.com"]


def test_options_plain_server_no_pipelining_size(smtpd_factory):
    server = smtpd_factory(starttls=False, pipelining=False, size=1000, mechanisms=("PLAIN",), implicit=False)
    assert server.implicit_port is None
    with smtplib.SMTP("127.0.0.1", server.port, timeout=5) as c:
        c.ehlo("board.local")
        assert not c.has_extn("starttls") and not c.has_extn("pipelining")
        assert c.esmtp_features["size"] == "1000" and c.esmtp_features["auth"].strip() == "PLAIN"
        c.login(SMTP_USER, SMTP_PASSWORD)
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            c.sendmail("device@example.com", ["ops@example.com"], MESSAGE + b"x" * 1000)
        assert e.value.smtp_code == 552
        c.rset()
        c.sendmail("device@example.com", ["ops@example.com"], MESSAGE)
    [rec] = server.messages
    assert rec["tls"] is False and rec["tls_version"] is None and rec["user"] == SMTP_USER
    assert "TLS:     NO" in devserver.summary(rec)


def test_server_cert_verifies_and_fingerprint(certs):
    ctx = client_context(certs)
    with devserver.DevServer(certs) as server:
        with socket.create_connection(("127.0.0.1", server.implicit_port), 5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                der = s.getpeercert(True)
                san = s.getpeercert()["subjectAltName"]
    assert hashlib.sha256(der).hexdigest() == certs["server_sha256"]
    assert san == (("DNS", "localhost"), ("IP Address", "127.0.0.1"))
    assert not server._starttls._thread and not server._implicit._thread  # stopped


@pytest.mark.parametrize(
    "variant,reason",
    [
        ("wrongname", "Hostname mismatch"),
        ("expired", "certificate has expired"),
        ("selfsigned", "self-signed certificate"),
    ],
)
def test_failing_variants_rejected_by_cpython(smtpd_factory, certs, variant, reason):
    server = smtpd_factory(cert=variant)
    with socket.create_connection(("127.0.0.1", server.implicit_port), 5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError, match=reason):
            client_context(certs).wrap_socket(raw, server_hostname="localhost")
    assert len({certs[v + "_sha256"] for v in ("server", "wrongname", "expired", "selfsigned")}) == 4


def test_client_certificate_required(smtpd_factory, certs):
    server = smtpd_factory(client_ca=True)
    # TLS 1.3: the refusal (alert certificate_required) arrives with the first read.
    with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected)):
        with smtplib.SMTP_SSL("127.0.0.1", server.implicit_port, context=client_context(certs), timeout=5) as c:
            c.ehlo("board.local")
    ctx = client_context(certs)
    ctx.load_cert_chain(certs["client_pem"], certs["client_key"])
    with smtplib.SMTP_SSL("127.0.0.1", server.implicit_port, context=ctx, timeout=5) as c:
        assert c.ehlo("board.local")[0] == 250


# Runs on the MicroPython Unix port: a STARTTLS by hand, the CA loaded as DER.
MP_HANDSHAKE = """
import socket, ssl, sys
port = int(sys.argv[1])
with open(sys.argv[2], "rb") as f:
    der = f.read()

def reply(s):
    lines = []
    while True:
        line = s.readline()
        lines.append(line)
        if line[3:4] != b"-":
            return lines

s = socket.socket()
s.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
reply(s)
s.write(b"EHLO board.local\\r\\n")
reply(s)
s.write(b"STARTTLS\\r\\n")
print(reply(s)[0])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(cadata=der)
try:
    t = ctx.wrap_socket(s, server_hostname="localhost")
except ValueError as e:
    print("rejected", e)
    sys.exit(0)
t.write(b"EHLO board.local\\r\\n")
for line in reply(t):
    print(line)
t.write(b"QUIT\\r\\n")
print(reply(t)[0])
t.close()
"""


@pytest.mark.parametrize("variant", ["server", "wrongname"])
def test_micropython_tls_handshake_with_der_ca(smtpd_factory, certs, tmp_path, variant):
    server = smtpd_factory(cert=variant, implicit=False)
    script = tmp_path / "hs.py"
    script.write_text(MP_HANDSHAKE)
    r = mpy.run([str(script), str(server.port), certs["ca_der"]], timeout=20)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0].startswith("b'220 ")
    if variant == "server":
        assert "b'250-PIPELINING\\r\\n'" in out and "b'250-STARTTLS\\r\\n'" not in out
        assert "b'250-AUTH CRAM-MD5 LOGIN PLAIN\\r\\n'" in out
        assert out[-1].startswith("b'221")
    else:
        assert out[1].startswith("rejected"), out
        assert "Common Name (CN) does not match" in r.stdout


def test_cli_serves_saves_and_shows(tmp_path, certs):
    certdir, maildir = tmp_path / "certs", tmp_path / "mail"
    cmd = [
        sys.executable,
        "-m",
        "tools.devserver",
        "--port",
        "0",
        "--implicit-port",
        "0",
        "--user",
        "%s:%s" % (SMTP_USER, SMTP_PASSWORD),
        "--certdir",
        str(certdir),
        "--maildir",
        str(maildir),
        "--dir",
        str(tmp_path),
    ]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=mpy.ROOT)
    try:
        ready = p.stdout.readline().split()
        assert ready[0] == "ready", p.stderr.read()
        fields = dict(f.split("=", 1) for f in ready[1:])
        empty = subprocess.run(
            [sys.executable, "-m", "tools.devserver", "--show", str(maildir)],
            capture_output=True,
            text=True,
            cwd=mpy.ROOT,
        )
        assert empty.returncode == 1 and empty.stdout.startswith("no messages")
        ctx = ssl.create_default_context(cafile=str(certdir / "ca.pem"))
        with smtplib.SMTP("127.0.0.1", int(fields["port"]), timeout=5) as c:
            c.starttls(context=ctx)
            c.login(SMTP_USER, SMTP_PASSWORD)
            c.sendmail("device@example.com", ["ops@example.com"], MESSAGE)
        with smtplib.SMTP_SSL("127.0.0.1", int(fields["implicit_port"]), context=ctx, timeout=5) as c:
            c.login(SMTP_USER, SMTP_PASSWORD)
            c.sendmail("device@example.com", ["b@example.com"], MESSAGE)
    finally:
        p.terminate()
        assert p.wait(10) == 0
    assert fields["ca"] == str(certdir / "ca.der")
    assert sorted(f.name for f in maildir.iterdir()) == ["0001.eml", "0001.json", "0002.eml", "0002.json"]
    assert (maildir / "0002.eml").read_bytes() == MESSAGE
    meta = json.loads((maildir / "0001.json").read_text())
    assert meta["tls"] is True and meta["user"] == SMTP_USER and meta["rcpt_tos"] == ["ops@example.com"]
    assert SMTP_PASSWORD not in p.stdout.read() + p.stderr.read()
    show = subprocess.run(
        [sys.executable, "-m", "tools.devserver", "--show", str(maildir)],
        capture_output=True,
        text=True,
        cwd=mpy.ROOT,
        check=True,
    ).stdout
    assert show.count("subject: hello") == 2 and "to:      b@example.com" in show


def _start(args, cwd):
    p = subprocess.Popen(
        [sys.executable, "-m", "tools.devserver", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )
    ready = p.stdout.readline().split()
    assert ready and ready[0] == "ready", p.stderr.read()
    return p, dict(f.split("=", 1) for f in ready[1:])


def test_cli_keeps_certificates_and_writes_settings_for_make_send(tmp_path):
    # With no option but --dir and a free port: certificates made once and kept across a
    # restart (the pin stays valid), a stamped settings file that `make send` uses as it is.
    port = str(free_port())
    p, fields = _start(["--dir", str(tmp_path), "--port", port], mpy.ROOT)
    try:
        first = open(fields["ca"], "rb").read()
        pin_line = p.stdout.readline()
        assert pin_line.startswith("certificates made in ")
        r = subprocess.run(
            ["make", "-s", "send", "SETTINGS=" + fields["settings"], "TO=you@example.com"],
            cwd=mpy.ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0 and r.stdout.splitlines()[-1].startswith("sent <"), r.stdout + r.stderr
    finally:
        p.terminate()
        assert p.wait(10) == 0
    with open(fields["settings"], "rb") as f:
        assert f.read(11) == b'{"stamp": "'
    saved = sorted(n for n in os.listdir(tmp_path / "mail") if n.endswith(".json"))
    assert saved == ["0001.json"]
    assert json.loads((tmp_path / "mail" / "0001.json").read_text())["rcpt_tos"] == ["you@example.com"]
    p, fields = _start(["--dir", str(tmp_path), "--port", port], mpy.ROOT)
    try:
        assert p.stdout.readline().startswith("certificates kept in ")
        assert open(fields["ca"], "rb").read() == first
    finally:
        p.terminate()
        p.wait(10)


def test_cli_port_in_use_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "tools.devserver", "--dir", str(tmp_path), "--port", str(port)],
            capture_output=True,
            text=True,
            cwd=mpy.ROOT,
            timeout=60,
        )
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "choose another with --port" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_help_says_nothing_is_required():
    r = subprocess.run(
        [sys.executable, "-m", "tools.devserver", "--help"], capture_output=True, text=True, cwd=mpy.ROOT, check=True
    )
    assert "No option is required" in " ".join(r.stdout.split())
