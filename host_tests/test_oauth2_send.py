# OAuth 2.0 sends end to end, on CPython and on the Unix port: the firmware against the dev SMTP
# server (aiosmtpd, XOAUTH2 and OAUTHBEARER checking each token with the token server) and a real
# HTTPS token endpoint (tokenserver.py), both on loopback with the tools/certs.py CA. Covered: a
# send with each mechanism, the cached token reused, a token refused mid-session (334 JSON, then
# one refresh and a retry), a refused grant (#866, not retried), the endpoint down (#801, retried),
# still refused after the refresh (#839), refresh-token rotation on disk before the message is
# accepted, a power cut during the rotation's save, and no secret in any output.
import asyncio
import json
import os

import pytest
import tokenserver as ts
from mpsend import make_settings, mp_send
from powercut_rig import run_script

from mailer import aclient, client, https, settings
from mailer.message import Message

REFRESH = "rt-first-Refresh-S3cret"
RUNNERS = ["cpython", "unixport"]


@pytest.fixture
def tokens(certs):
    with ts.TokenServer(certs, REFRESH) as srv:
        yield srv


@pytest.fixture
def oauth_smtpd(smtpd_factory, tokens):
    return smtpd_factory(mechanisms=("XOAUTH2", "OAUTHBEARER"), bearer=tokens.valid, users={})


def oauth_settings(tmp_path, smtpd, tokens, certs, mechs=("XOAUTH2",)):
    group = {
        "token_url": tokens.token_url,
        "client_id": ts.CLIENT_ID,
        "client_secret": ts.CLIENT_SECRET,
        "refresh_token": REFRESH,
        "scope": "https://outlook.office.com/SMTP.Send offline_access",
        "ca_file": certs["ca_der"],
    }
    smtp = {"auth": "log_on_using", "user": ts.USER, "mechanisms": list(mechs), "oauth2": group, "timeout_s": 2}
    return make_settings(tmp_path, smtpd.port, certs, smtp)


def send(runner, path, c=None):
    """(code or None, retry, last line, all output) of one send with the settings file path;
    on CPython through Client c when given (its token cache), else a new Client."""
    if runner == "unixport":
        code, retry, _, last, out, _ = mp_send(path)
        return code, retry, last, out
    log = []
    c = c or client.Client(settings.load(path), path)
    (res,) = c.deliver([Message(ts.USER, ["ops@example.com"], subject="OAuth", body="x\n")], log=log.append)
    err = res.error
    return (err and err.code), (err and err.retry), res.line(), "\n".join(log + [res.line(), repr(err), repr(c.tokens)])


def assert_clean(out, tokens):
    for s in [REFRESH, ts.CLIENT_SECRET, *tokens.access, *tokens.refresh_tokens]:
        assert s not in out


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("mech", ["XOAUTH2", "OAUTHBEARER"])
def test_send_with_token(runner, mech, tmp_path, certs, tokens, oauth_smtpd):
    path = oauth_settings(tmp_path, oauth_smtpd, tokens, certs, [mech, "PLAIN"])
    code, _, last, out = send(runner, path)
    assert code is None, out
    (m,) = oauth_smtpd.messages
    assert (m["user"], m["mechanism"], m["tls"]) == (ts.USER, mech, True)
    (grant,) = tokens.grants
    assert grant == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
        "client_id": ts.CLIENT_ID,
        "client_secret": ts.CLIENT_SECRET,
        "scope": "https://outlook.office.com/SMTP.Send offline_access",
    }
    assert "C: AUTH %s ***" % mech in out and "S: 235" in out
    assert_clean(out, tokens)


def test_cached_token_reused_across_deliveries(tmp_path, certs, tokens, oauth_smtpd):
    path = oauth_settings(tmp_path, oauth_smtpd, tokens, certs)
    c = client.Client(settings.load(path), path)
    assert send("cpython", path, c)[0] is None
    assert send("cpython", path, c)[0] is None
    assert len(oauth_smtpd.messages) == 2 and len(tokens.grants) == 1


def test_token_expired_between_deliveries_is_refreshed_once(tmp_path, certs, tokens, oauth_smtpd):
    path = oauth_settings(tmp_path, oauth_smtpd, tokens, certs, ["OAUTHBEARER"])
    c = client.Client(settings.load(path), path)
    assert send("cpython", path, c)[0] is None
    tokens.expire_all()  # the board's cache still holds it as valid
    code, _, _, out = send("cpython", path, c)
    assert code is None, out
    assert len(oauth_smtpd.messages) == 2 and len(tokens.grants) == 2
    assert "S: 334 " in out and "C: AQ==" in out and "S: 535" in out  # the failure challenge, answered
    assert out.count("C: AUTH OAUTHBEARER ***") == 2  # this delivery: the cached token, then the new one
    assert_clean(out, tokens)


@pytest.mark.parametrize("runner", RUNNERS)
def test_token_refused_mid_session_then_refreshed(runner, tmp_path, certs, tokens, oauth_smtpd):
    tokens.duds = 1  # the first token is refused by the SMTP server
    path = oauth_settings(tmp_path, oauth_smtpd, tokens, certs)
    code, _, last, out = send(runner, path)
    assert code is None, out
    assert len(tokens.grants) == 2 and len(oauth_smtpd.messages) == 1
    assert "S: 334 " in out and out.count("C: AUTH XOAUTH2 ***") == 2
    assert_clean(out, tokens)


@pytest.mark.parametrize("runner", RUNNERS)
def test_asyncio_send_refreshes_on_asyncio(runner, tmp_path, certs, tokens, oauth_smtpd, monkeypatch):
    # Both grants (the first token, and the refresh after the server refused it) go over the
    # asyncio connection: on CPython the blocking HTTPS POST is made to fail if it is used.
    tokens.duds = 1
    path = oauth_settings(tmp_path, oauth_smtpd, tokens, certs)
    if runner == "unixport":
        code, _, _, _, out, _ = mp_send(path, use_asyncio=True)
    else:

        def blocking(*a):
            raise RuntimeError("blocking token refresh on the asyncio path")

        monkeypatch.setattr(https, "post", blocking)
        log = []
        msg = Message(ts.USER, ["ops@example.com"], subject="OAuth", body="x\n")
        (res,) = asyncio.run(aclient.adeliver(settings.load(path), [msg], log.append, path))
        code, out = (res.error and res.error.code), "\n".join(log + [res.line()])
    assert code is None, out
    assert len(tokens.grants) == 2 and len(oauth_smtpd.messages) == 1
    assert out.count("C: AUTH XOAUTH2 ***") == 2
    assert_clean(out, tokens)


@pytest.mark.parametrize("runner", RUNNERS)
def test_still_refused_after_refresh_is_839(runner, tmp_path, certs, tokens, oauth_smtpd):
    tokens.duds = 5
    path = oauth_settings(tmp_path, oauth_smtpd, tokens, certs)
    code, retry, last, out = send(runner, path)
    assert (code, retry) == (839, False), out
    assert last == (
        "#839 SMTP authentication failed (535 5.7.8 Authentication credentials invalid (status invalid_token "
        "scope=https://mail.google.com/ schemes=bearer))"
    )
    assert len(tokens.grants) == 2 and not oauth_smtpd.messages
    assert_clean(out, tokens)


@pytest.mark.parametrize("runner", RUNNERS)
def test_refused_grant_is_866_not_retried(runner, tmp_path, certs, tokens, oauth_smtpd):
    tokens.refresh_tokens.clear()  # revoked
    path = oauth_settings(tmp_path, oauth_smtpd, tokens, certs)
    code, retry, last, out = send(runner, path)
    assert (code, retry) == (866, False), out
    assert last == "#866 OAuth token refused (token endpoint refused the grant: invalid_grant)"
    assert len(tokens.grants) == 1 and not oauth_smtpd.messages
    assert_clean(out, tokens)


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("how", ["down", "503"])
def test_endpoint_unreachable_is_801_retried(runner, how, tmp_path, certs, tokens, oauth_smtpd):
    path = oauth_settings(tmp_path, oauth_smtpd, tokens, certs)
    if how == "down":
        tokens.stop()
    else:
        tokens.status = 503
    code, retry, last, out = send(runner, path)
    assert (code, retry) == (801, True), out
    assert last.startswith("#801 Error communicating with the SMTP server (token endpoint")
    assert not oauth_smtpd.messages
    assert_clean(out, tokens)


@pytest.mark.parametrize("runner", RUNNERS)
def test_rotated_refresh_token_on_disk_before_the_message_is_accepted(runner, tmp_path, certs, tokens, smtpd_factory):
    tokens.rotate = True
    on_disk = []

    def at_data(rec):
        on_disk.append(settings.load(path)["smtp"]["oauth2"]["refresh_token"])

    srv = smtpd_factory(mechanisms=("XOAUTH2",), bearer=tokens.valid, users={}, on_message=at_data)
    path = oauth_settings(tmp_path, srv, tokens, certs)
    code, _, _, out = send(runner, path)
    assert code is None, out
    (new,) = tokens.refresh_tokens
    assert new != REFRESH and on_disk == [new]
    assert settings.load(path + ".bak")["smtp"]["oauth2"]["refresh_token"] == REFRESH
    with open(path) as f:
        saved = json.load(f)
    assert saved["smtp"]["ca_file"] == certs["ca_der"]  # the file otherwise as it was
    assert "OAuth: new refresh token saved in " in out
    # The old one is spent: a second send uses the new one from the file.
    assert send(runner, path)[0] is None and len(srv.messages) == 2 and len(tokens.grants) == 2
    assert_clean(out, tokens)


SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp_oauth_powercut.py")


@pytest.mark.parametrize("fs", ["lfs2", "fat"])
def test_power_cut_during_rotation_leaves_old_or_new_token(fs):
    (r,) = run_script(SCRIPT, fs)
    assert r["clean"] == "new" and r["writes"] >= 6
    res = r["results"]
    assert res[0] == "old" and res[-1] == "new"
    assert set(res) == {"old", "new"}, res
    assert res[res.index("new") :] == ["new"] * (len(res) - res.index("new"))


def test_device_code_helper_writes_a_refresh_token_that_sends(tmp_path, certs, tokens, oauth_smtpd, capsys):
    # tools.settings oauth against the local endpoints: the sign-in text, polling that honours
    # interval, authorization_pending and slow_down (RFC 8628 3.5), the settings file written.
    from tools import settings as tool

    slept = []
    path = str(tmp_path / "oauth.json")
    t = tool.device_flow(
        tokens.device_url,
        tokens.token_url,
        ts.CLIENT_ID,
        "https://mail.google.com/",
        ca=certs["ca_pem"],
        sleep=slept.append,
    )
    assert slept == [1, 6, 6] and t["refresh_token"] in tokens.refresh_tokens
    assert [g["grant_type"] for g in tokens.grants] == ["urn:ietf:params:oauth:grant-type:device_code"] * 3
    assert "To sign in, open https://microsoft.com/devicelogin and enter the code ABCD-EFGH" in capsys.readouterr().out
    tool.oauth_settings(path, "microsoft", ts.USER, ts.CLIENT_ID, "", t["refresh_token"], tokens.token_url, "s")
    d = settings.load(path)
    assert (d["smtp"]["host"], d["smtp"]["port"], d["smtp"]["mechanisms"]) == ("smtp.office365.com", 587, ["XOAUTH2"])
    assert d["smtp"]["oauth2"]["refresh_token"] == t["refresh_token"] and d["smtp"]["auth"] == "log_on_using"
    # The same file, pointed at the local servers, sends.
    d["smtp"].update(host="localhost", port=oauth_smtpd.port, ca_file=certs["ca_der"])
    d["smtp"]["oauth2"]["client_secret"] = ts.CLIENT_SECRET
    settings.save(d, path)
    assert send("cpython", path)[0] is None and oauth_smtpd.messages[0]["mechanism"] == "XOAUTH2"


def test_device_code_helper_cli_reports_a_refusal(tmp_path, certs, tokens):
    from tools import settings as tool

    argv = ["oauth", str(tmp_path / "o.json"), "--provider", "google", "--client-id", "wrong", "--user", ts.USER]
    argv += ["--device-url", tokens.device_url, "--token-url", tokens.token_url, "--ca", certs["ca_pem"]]
    tokens.pending = 0
    assert tool.main(argv) == 1 and not os.path.exists(tmp_path / "o.json")
