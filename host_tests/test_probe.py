# The probe (mailer.probe, tools/probe.py) against the dev server, on CPython and on the Unix
# port: every step printed with what the server said, the certificate's fields (checked
# against the `cryptography` package's reading of the same DER), and the verdict a send gets.
import json
import os
import socket
import subprocess
import sys

import mpy
from conftest import SMTP_PASSWORD, SMTP_USER
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mailer.probe import cert_info

PROBE = os.path.join(mpy.ROOT, "tools", "probe.py")


def settings_file(tmp_path, port, certs, **smtp):
    cfg = {
        "version": 1,
        "incoming": {"user": SMTP_USER, "password": smtp.pop("password", SMTP_PASSWORD)},
        "smtp": dict({"host": "localhost", "port": port, "ca_file": certs["ca_der"], "timeout_s": 3}, **smtp),
        "mail": {"from": SMTP_USER},
    }
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def host_probe(path):
    r = subprocess.run([sys.executable, PROBE, path], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout


def board_probe(path):
    r = mpy.run_code("from mailer import probe, settings\nprobe.run(settings.load(%r))" % path)
    assert r.returncode == 0, r.stderr
    return r.stdout


def steps(out):
    # {step: [text, ...]} from the probe's lines after the legend.
    got = {}
    for line in out.split("\n\n", 1)[1].splitlines():
        step, _, text = line.partition(" ")
        got.setdefault(step, []).append(text.strip())
    return got


def test_cert_info_reads_what_cryptography_reads(certs):
    for name in ("server", "expired", "selfsigned", "ca"):
        with open(certs[name + "_pem"], "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        c = cert_info(cert.public_bytes(Encoding.DER))
        assert c["subject"] == cert.subject.rfc4514_string()
        assert c["issuer"] == cert.issuer.rfc4514_string()
        assert c["not_before"] == cert.not_valid_before_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
        assert c["not_after"] == cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
        if name != "ca":
            assert c["sha256"] == certs[name + "_sha256"]


def test_probe_shows_every_step_on_the_host(smtpd, tmp_path):
    rc, out = host_probe(settings_file(tmp_path, smtpd.port, smtpd.certs))
    assert rc == 0, out
    assert out.splitlines()[0] == "connect     fails with #802 name, #801 refused or timed out"
    s = steps(out)
    assert s["connect"] == ["localhost:%d" % smtpd.port]
    assert s["greeting"][0].startswith("220 ")
    before, after = s["ehlo"]
    assert "STARTTLS" in before.split() and "AUTH" not in before.split()
    assert after.startswith("after TLS: ") and "AUTH" in after.split() and "STARTTLS" not in after.split()
    assert s["starttls"] == ["220 Ready to start TLS"]
    assert s["tls"][0].startswith("TLSv1.")
    assert s["certificate"] == [
        "subject CN=localhost; issuer CN=mailer test CA",
        s["certificate"][1],
        "sha256 " + smtpd.certs["server_sha256"],
    ]
    assert s["certificate"][1].startswith("valid 20") and " UTC to 20" in s["certificate"][1]
    assert s["auth"] == ["offered: CRAM-MD5 LOGIN PLAIN; allowed: CRAM-MD5 PLAIN LOGIN; would use: CRAM-MD5"]
    assert s["verdict"] == ["ok: certificate, TLS and login as the settings say"]


def test_probe_on_the_unix_port_shows_the_certificate(smtpd, tmp_path):
    out = board_probe(settings_file(tmp_path, smtpd.port, smtpd.certs))
    s = steps(out)
    assert s["tls"][0].startswith("TLS-")  # mbedTLS's suite name; no version() on MicroPython
    assert s["certificate"][0] == "subject CN=localhost; issuer CN=mailer test CA"
    assert s["certificate"][2] == "sha256 " + smtpd.certs["server_sha256"]
    assert s["verdict"] == ["ok: certificate, TLS and login as the settings say"]


def test_wrong_password_is_839_and_never_shown(smtpd, tmp_path):
    rc, out = host_probe(settings_file(tmp_path, smtpd.port, smtpd.certs, password="Wr0ng-pw"))
    assert rc == 1
    assert steps(out)["verdict"] == ["#839 SMTP authentication failed (535 5.7.8 Authentication credentials invalid)"]
    assert "Wr0ng-pw" not in out


def test_no_starttls_is_862(smtpd_factory, tmp_path):
    server = smtpd_factory(starttls=False, implicit=False)
    rc, out = host_probe(settings_file(tmp_path, server.port, server.certs))
    assert rc == 1
    s = steps(out)
    assert "STARTTLS" not in s["ehlo"][0] and "starttls" not in s
    assert s["verdict"] == ["#862 Encryption required but not available (server does not offer STARTTLS)"]


def test_untrusted_certificate_is_shown_and_863(smtpd_factory, tmp_path):
    server = smtpd_factory(cert="selfsigned", implicit=False)
    out = board_probe(settings_file(tmp_path, server.port, server.certs))
    s = steps(out)
    assert s["certificate"][2] == "sha256 " + server.certs["selfsigned_sha256"]
    assert s["verdict"][0].startswith("#863 Server certificate rejected")


def test_nothing_listening_is_801_worth_retrying(certs, tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    rc, out = host_probe(settings_file(tmp_path, port, certs))
    assert rc == 75
    s = steps(out)
    assert s["connect"][0].startswith("FAILED #801 ") and "refused" in s["connect"][0]
    assert s["verdict"][0].startswith("#801 ")


def test_probe_and_send_agree_on_a_wrong_tls_mode_and_say_how_to_fix_it(smtpd, tmp_path):
    # tls "implicit" on the STARTTLS port: the server answers the ClientHello in clear. tls
    # "required" on the implicit-TLS port: no greeting ever comes. The probe (CPython's TLS)
    # and a send (the Unix port's Mbed TLS) give the same code and the same hint.
    import mpsend

    cases = [
        (smtpd.port, "implicit", "#841", 'this port speaks STARTTLS, use tls "required"'),
        (smtpd.implicit_port, "required", "#801", 'needs tls "implicit"'),
    ]
    for port, mode, code, hint in cases:
        path = settings_file(tmp_path, port, smtpd.certs, tls=mode, timeout_s=1, deadline_s=2)
        rc, out = host_probe(path)
        verdict = [ln for ln in out.splitlines() if ln.startswith("verdict")][0]
        assert code in verdict and hint in verdict, out
        r = mpy.run([mpsend.SEND, mpsend.request(path, "to=ops@example.com")], timeout=60)
        last = r.stdout.strip().splitlines()[-1]
        assert last.startswith(code) and hint in last, r.stdout + r.stderr
        assert r.returncode == (1 if code == "#841" else 75)
