# No secrets leaked: with the most verbose logging (mp_send verbose=1 on the Unix
# port, client.deliver(log=...) on CPython), for every AUTH mechanism and every way an AUTH
# can end (accepted, refused, connection dropped after the password, time-out), the password
# and its base64 forms (the PLAIN blob, LOGIN's answer, the password at any base64 alignment)
# appear in no output, log line or result text. The wire itself is checked too: the forms we
# look for are really what went to the server (so the search could fail), and only inside TLS.
import json

import faultcases as fc
import faultserver as fs
import pytest
from faultserver import FaultServer
from mpsend import make_settings, mp_send

from mailer import client, settings
from mailer.message import Message

CHALLENGE = b"PDEyMzQ1LjY3OEBmYXVsdC50ZXN0Pg=="  # <12345.678@fault.test>
SECRETS = fc.b64_forms()

# (mechanism, the server's side of the exchange up to where it answers the credentials)
EXCHANGE = {
    "PLAIN": [("expect", b"AUTH PLAIN ")],
    "LOGIN": [("expect", b"AUTH LOGIN "), ("send", b"334 UGFzc3dvcmQ6\r\n"), ("expect", b"")],
    "CRAM-MD5": [("expect", b"AUTH CRAM-MD5"), ("send", b"334 " + CHALLENGE + b"\r\n"), ("expect", b"")],
}
ENDINGS = {
    "accepted": ([("send", b"235 2.7.0 Ok\r\n")] + fs.transaction(), None),
    "refused": ([("send", b"535 5.7.8 Authentication credentials invalid\r\n")], 839),
    "dropped": ([("close",)], 801),
    "silent": ([("stall", 10)], 801),
}
CASES = [(m, e) for m in EXCHANGE for e in ENDINGS]


def _script(ctx, mech, ending):
    caps = b"250-fault.test\r\n250 AUTH CRAM-MD5 PLAIN LOGIN\r\n"
    return fs.to_starttls(ctx) + [("expect", b"EHLO"), ("send", caps)] + EXCHANGE[mech] + ENDINGS[ending][0]


def _wire_checks(srv, mech):
    wire = srv.wire()
    before_tls = wire.split(b"STARTTLS\r\n", 1)[0]
    assert not any(s in before_tls for s in SECRETS)
    found = [s for s in SECRETS if s in wire]
    if mech == "PLAIN":
        assert SECRETS[1] in found  # the PLAIN blob went to the server, inside TLS
    elif mech == "LOGIN":
        assert SECRETS[2] in found  # LOGIN's base64 of the password
    else:
        assert found == []  # CRAM-MD5 never sends the password in any form


def _assert_clean(text):
    for s in SECRETS:
        assert s.decode() not in text, s


@pytest.mark.parametrize("mech,ending", CASES)
def test_unixport_verbose_output_has_no_secret(mech, ending, certs, tmp_path):
    with FaultServer(_script(fs.server_context(certs), mech, ending), linger=5) as srv:
        path = make_settings(tmp_path, srv.port, certs, {"mechanisms": [mech]})
        code, _, _, last, out, _ = mp_send(path)
        assert code == ENDINGS[ending][1], out
        assert "C: " in out and "S: " in out  # the verbose log really ran
        assert ("AUTH %s ***" % mech if mech != "CRAM-MD5" else "C: ***") in out
        _assert_clean(out)
        assert srv.wait_eof(3)
        _wire_checks(srv, mech)


@pytest.mark.parametrize("mech,ending", CASES)
def test_cpython_log_and_result_have_no_secret(mech, ending, certs, tmp_path):
    with FaultServer(_script(fs.server_context(certs), mech, ending), linger=5) as srv:
        cfg = settings.load(make_settings(tmp_path, srv.port, certs, {"mechanisms": [mech]}))
        log = []
        (res,) = client.deliver(cfg, [Message(fc.USER, [fc.RCPTS[0]], body="x\n")], log=log.append)
        assert (None if res.ok else res.error.code) == ENDINGS[ending][1]
        assert len(log) > 5
        texts = log + [res.line(), repr(res.error), str(res.error and res.error.args)]
        _assert_clean("\n".join(texts))
        # The settings themselves print redacted.
        _assert_clean(repr(cfg) + str(cfg) + json.dumps(settings.redacted(cfg)))
        assert srv.wait_eof(3)
        _wire_checks(srv, mech)


def test_bad_password_setting_is_861_without_the_password(certs, tmp_path):
    # A password with a line break is refused (#861) by name, never by value.
    import json

    path = make_settings(tmp_path, fs.free_port(), certs)
    cfg = json.loads(open(path).read())
    cfg["incoming"]["password"] = fc.PASSWORD + "\r\nRSET"
    open(path, "w").write(json.dumps(cfg))
    code, retry, _, last, out, _ = mp_send(path)
    assert (code, retry) == (861, False) and "incoming.password" in last
    _assert_clean(out)
