# Host unit tests of mailer.oauth2 (CPython, the transport mocked by FakeConn): the SASL initial
# responses byte for byte (the examples Google and RFC 7628 publish), the failure challenge's
# status, the refresh grant's request and its answers, the bounds on the endpoint's response,
# and that no secret shows in any text form. The same functions on the Unix port at the end.
import json

import mpy
import pytest
from fakeconn import FakeConn

from mailer import https, oauth2, schema, settings, transport
from mailer.codes import COMM, OAUTH, SETTINGS
from mailer.errors import MailError

SECRET = "client-S3cret/+&="
REFRESH = "1//refresh-T0ken+rt"
GROUP = {
    "token_url": "https://login.example.com:8443/tenant/oauth2/v2.0/token",
    "client_id": "app-id",
    "client_secret": SECRET,
    "refresh_token": REFRESH,
    "scope": "https://outlook.office.com/SMTP.Send offline_access",
    "ca_file": "",
}


def test_xoauth2_initial_response_is_googles_example():
    got = oauth2.initial(b"XOAUTH2", b"someuser@example.com", b"ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", "h", 1)
    assert got == (
        b"dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZ"
        b"Mjl0Q2cBAQ=="
    )


def test_oauthbearer_initial_response_is_rfc7628_example():
    # RFC 7628 4.1: "n,a=user@example.com,^Ahost=server.example.com^Aport=143^Aauth=Bearer ...^A^A"
    got = oauth2.initial(
        b"OAUTHBEARER", b"user@example.com", b"vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", "server.example.com", 143
    )
    assert got == (
        b"bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRx"
        b"bVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"
    )


def test_oauthbearer_escapes_the_user_as_rfc5801_saslname():
    raw = oauth2.binascii.a2b_base64(oauth2.initial(b"OAUTHBEARER", b"a,b=c@x", b"t", "h", 25))
    assert raw == b"n,a=a=2Cb=3Dc@x,\x01host=h\x01port=25\x01auth=Bearer t\x01\x01"


def b64json(obj):
    return oauth2.binascii.b2a_base64(json.dumps(obj).encode())[:-1]


@pytest.mark.parametrize(
    "challenge,want",
    [
        # Google's XOAUTH2 failure
        (
            b"eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==",
            "401 scope=https://mail.google.com/ schemes=Bearer",
        ),
        (b64json({"status": "invalid_token", "scope": "x" * 65}), "invalid_token"),  # long scope left out
        (b64json({"status": "invalid_token\r\nRSET", "schemes": "bearer"}), "invalid_token??RSET schemes=bearer"),
        (b64json({"status": 401}), "401"),
        (b64json({"status": "s" * 300}), "s" * 64),
        (b64json({"scope": "a"}), "?"),
        (b64json(["status"]), "?"),
        (b"not base64!", "?"),
        (oauth2.binascii.b2a_base64(b"\xff\xfe{")[:-1], "?"),
        (b"", "?"),
        (b"bnVsbA==", "?"),  # null
    ],
)
def test_failure_status_never_raises(challenge, want):
    assert oauth2.failure(challenge) == want


def test_abort_answers():
    assert oauth2.ABORT == {b"OAUTHBEARER": b"AQ==\r\n", b"XOAUTH2": b"\r\n"}
    assert oauth2.binascii.a2b_base64(b"AQ==") == b"\x01"


def test_form_percent_encodes_and_leaves_out_empty_values():
    body = https.form((("grant_type", "refresh_token"), ("refresh_token", "a b&c=d+e/f~g.h_i-j"), ("x", "")))
    assert body == b"grant_type=refresh_token&refresh_token=a%20b%26c%3Dd%2Be%2Ff~g.h_i-j"
    assert https.form((("scope", "\u00e9"),)) == b"scope=%C3%A9"


@pytest.mark.parametrize(
    "buf,want",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}junk", (200, b"{}")),
        (b"HTTP/1.0 400 Bad\r\ncontent-length:  3 \r\n\r\nabc", (400, b"abc")),
        (b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"a": 1}', (200, b'{"a": 1}')),
        (
            b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\n{"a\r\n4\r\n": 1\r\n0\r\n\r\n',
            (200, b'{"a": 1'),
        ),
    ],
)
def test_parse_response(buf, want):
    assert https.parse_response(buf) == want


@pytest.mark.parametrize(
    "buf,why",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}", "cut short"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP response"),
        (b"HTTP/1.1 200 OK\r\n", "not an HTTP response"),
        (b"HTTP/1.1 abc OK\r\n\r\n", "not an HTTP response"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nab", "truncated chunk"),
    ],
)
def test_parse_response_refuses_what_is_not_one(buf, why):
    with pytest.raises(MailError) as e:
        https.parse_response(buf)
    assert e.value.code == COMM and why in e.value.detail and e.value.retry


def test_complete():
    assert not https.complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{")
    assert https.complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    assert not https.complete(b"HTTP/1.1 200 OK\r\n\r\n{}")  # to the close


def test_split_url():
    assert https.split_url(GROUP["token_url"]) == ("login.example.com", 8443, "/tenant/oauth2/v2.0/token")
    assert https.split_url("https://oauth2.googleapis.com/token") == ("oauth2.googleapis.com", 443, "/token")
    with pytest.raises(MailError) as e:
        https.split_url("http://x/token")
    assert e.value.code == SETTINGS


def response(status, obj, extra=b""):
    body = json.dumps(obj).encode() if not isinstance(obj, bytes) else obj
    return (
        b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n"
        % (
            status,
            extra,
            len(body),
        )
        + body
    )


@pytest.fixture
def endpoint(monkeypatch):
    """endpoint(*responses) -> (source, conns): a TokenSource whose connections are FakeConns
    answering one scripted response each; conns records them (and their connect arguments)."""
    conns = []

    def make(*responses, path=None, log=None):
        todo = list(responses)

        def connect(host, port, timeout_ms, deadline, tls_cfg, implicit_tls=False):
            conns.append((FakeConn([todo.pop(0)]), host, port, tls_cfg, implicit_tls))
            return conns[-1][0]

        from mailer import dial  # imported here: compat.once then keeps it, patched

        monkeypatch.setattr(dial, "connect", connect)
        g = dict(GROUP)
        return oauth2.TokenSource(g, transport.TlsConfig("ca", "ca.der"), 1000, 3000, path, log), conns

    return make


def test_refresh_request_is_rfc6749_section_6(endpoint):
    src, conns = endpoint(response(200, {"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600}))
    assert src.token() == b"at-1"
    conn, host, port, tls_cfg, implicit = conns[0]
    assert (host, port, tls_cfg.verify, tls_cfg.ca_file, implicit) == ("login.example.com", 8443, "ca", "ca.der", True)
    body = (
        b"grant_type=refresh_token&refresh_token=1%2F%2Frefresh-T0ken%2Brt&client_id=app-id"
        b"&client_secret=client-S3cret%2F%2B%26%3D&scope=https%3A%2F%2Foutlook.office.com%2FSMTP.Send%20offline_access"
    )
    assert bytes(conn.written) == (
        b"POST /tenant/oauth2/v2.0/token HTTP/1.1\r\nHost: login.example.com:8443\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
    )
    assert conn.closed


def test_token_cached_until_expiry_margin_then_refreshed(endpoint, monkeypatch):
    src, conns = endpoint(
        response(200, {"access_token": "at-1", "expires_in": 3600}),
        response(200, {"access_token": "at-2", "expires_in": "3599"}),
        response(200, {"access_token": "at-3", "expires_in": 3600}),
    )
    now = [1000]
    monkeypatch.setattr(oauth2, "ticks_ms", lambda: now[0])
    assert src.token() == b"at-1"
    now[0] += 3600_000 - 60_000 - 1  # one ms before the margin
    assert src.token() == b"at-1" and len(conns) == 1
    now[0] += 1
    assert src.token() == b"at-2" and len(conns) == 2
    assert src.token(force=True) == b"at-3" and src.refreshes == 3


@pytest.mark.parametrize("err", ["invalid_grant", "invalid_client", "unauthorized_client"])
def test_refused_grant_is_866_not_retried(endpoint, err):
    src, _ = endpoint(response(400, {"error": err, "error_description": "AADSTS70000: expired"}))
    with pytest.raises(MailError) as e:
        src.token()
    assert (e.value.code, e.value.retry) == (OAUTH, False)
    assert e.value.line() == "#866 OAuth token refused (token endpoint refused the grant: %s)" % err


@pytest.mark.parametrize(
    "resp,detail",
    [
        (response(500, b"oops"), "token endpoint: HTTP 500"),
        (response(503, {"error": "temporarily_unavailable"}), "token endpoint: temporarily_unavailable"),
        (response(429, {"error": "slow_down"}), "token endpoint: slow_down"),
        (response(200, {"token_type": "Bearer"}), "token endpoint: no usable access_token"),
        (response(200, {"access_token": "a\x01auth=x"}), "token endpoint: no usable access_token"),
        (response(200, b"<html>"), "token endpoint: HTTP 200"),
        (b"", "token endpoint login.example.com: not an HTTP response"),
    ],
)
def test_endpoint_trouble_is_801_retried(endpoint, resp, detail):
    src, _ = endpoint(resp)
    with pytest.raises(MailError) as e:
        src.token()
    assert (e.value.code, e.value.retry, e.value.detail) == (COMM, True, detail)


def test_other_4xx_with_an_error_is_866(endpoint):
    src, _ = endpoint(response(400, {"error": "invalid_scope"}))
    with pytest.raises(MailError) as e:
        src.token()
    assert (e.value.code, e.value.retry) == (OAUTH, False) and "invalid_scope" in e.value.detail


def test_response_bounded(endpoint, monkeypatch):
    # An endpoint that never stops talking: at most MAX_RESPONSE bytes (plus one read) held.
    endless = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 100_000
    src, conns = endpoint(endless)
    with pytest.raises(MailError) as e:
        src.token()
    assert e.value.code == COMM and "larger than 8192 bytes" in e.value.detail
    assert conns[0][0].reads <= https.MAX_RESPONSE // 512 + 2 and conns[0][0].closed


def test_network_failure_is_801(monkeypatch):
    def connect(*a, **k):
        raise MailError(802, "login.example.com: -2")

    from mailer import dial  # imported here: compat.once then keeps it, patched

    monkeypatch.setattr(dial, "connect", connect)
    src = oauth2.TokenSource(dict(GROUP), transport.TlsConfig("off"), 1000, 3000)
    with pytest.raises(MailError) as e:
        src.token()
    assert (e.value.code, e.value.retry) == (COMM, True)
    assert e.value.detail == "token endpoint login.example.com: login.example.com: -2"


def test_certificate_failure_keeps_its_code(monkeypatch):
    def connect(*a, **k):
        raise MailError(863, "certificate not signed by the CA")

    from mailer import dial  # imported here: compat.once then keeps it, patched

    monkeypatch.setattr(dial, "connect", connect)
    with pytest.raises(MailError) as e:
        oauth2.TokenSource(dict(GROUP), transport.TlsConfig("ca"), 1000, 3000).token()
    assert e.value.code == 863


def test_rotation_without_a_file_is_kept_in_ram_and_said(endpoint):
    log = []
    src, _ = endpoint(
        response(200, {"access_token": "at-1", "refresh_token": "rt-2", "expires_in": 60}), log=log.append
    )
    assert src.token() == b"at-1" and src.group["refresh_token"] == "rt-2"
    assert "OAuth: new refresh token kept in RAM only (no settings file to save it in)" in log


def good_settings(**oauth):
    return {
        "version": 1,
        "smtp": {
            "host": "smtp.office365.com",
            "auth": "log_on_using",
            "user": "board@example.com",
            "mechanisms": ["XOAUTH2"],
            "verify": "off",
            "oauth2": dict(GROUP, **oauth),
        },
        "mail": {"from": "board@example.com"},
    }


def test_rotation_is_saved_before_the_token_is_returned(endpoint, tmp_path):
    path = str(tmp_path / "settings.json")
    settings.save(good_settings(), path)
    seen = []

    def log(line):
        seen.append((line, settings.load(path)["smtp"]["oauth2"]["refresh_token"]))

    src, _ = endpoint(response(200, {"access_token": "at-1", "refresh_token": "rt-2"}), path=path, log=log)
    assert src.token() == b"at-1"
    assert ("OAuth: new refresh token saved in " + path, "rt-2") in seen
    d = settings.load(path)
    assert d["smtp"]["oauth2"]["refresh_token"] == "rt-2"
    assert settings.load(path + ".bak")["smtp"]["oauth2"]["refresh_token"] == REFRESH
    d["smtp"]["oauth2"]["refresh_token"] = REFRESH  # nothing else changed
    assert d == settings.check(good_settings())


def test_no_secret_in_any_text_form(endpoint, tmp_path):
    log = []
    src, _ = endpoint(
        response(200, {"access_token": "AT-S3cret", "refresh_token": "RT-S3cret-2"}),
        response(400, {"error": "invalid_grant"}),
        log=log.append,
    )
    src.token()
    with pytest.raises(MailError) as e:
        src.token(force=True)
    d = settings.check(good_settings())
    texts = log + [repr(src), str(src), e.value.line(), repr(e.value), repr(settings.load(_saved(tmp_path, d)))]
    texts.append(json.dumps(settings.redacted(d)))
    for s in (SECRET, REFRESH, "AT-S3cret", "RT-S3cret-2", "client-S3cret"):
        assert s not in "\n".join(texts)
    assert settings.redacted(d)["smtp"]["oauth2"]["client_secret"] == "***"
    assert settings.redacted(d)["smtp"]["oauth2"]["refresh_token"] == "***"
    assert settings.redacted(d)["smtp"]["oauth2"]["client_id"] == "app-id"


def _saved(tmp_path, d):
    path = str(tmp_path / "s.json")
    settings.save(d, path)
    return path


@pytest.mark.parametrize(
    "change,problem",
    [
        ({"token_url": "http://login.example.com/token"}, "smtp.oauth2.token_url: must be https://host[:port]/path"),
        ({"token_url": "https://login.example.com"}, "smtp.oauth2.token_url: must be https://host[:port]/path"),
        ({"token_url": "https://a@b/token"}, "smtp.oauth2.token_url: must be https://host[:port]/path"),
        ({"token_url": "https://b:99999/token"}, "smtp.oauth2.token_url: must be https://host[:port]/path"),
        ({"token_url": ""}, "smtp.oauth2.token_url: missing (needed when smtp.mechanisms lists XOAUTH2)"),
        ({"refresh_token": ""}, "smtp.oauth2.refresh_token: missing (needed when smtp.mechanisms lists XOAUTH2)"),
        ({"client_id": ""}, "smtp.oauth2.client_id: missing (needed when smtp.mechanisms lists XOAUTH2)"),
        ({"refresh_token": "rt\r\nx"}, "smtp.oauth2.refresh_token: CR/LF/NUL not allowed"),
        ({"client_secret": 5}, "smtp.oauth2.client_secret: must be a string"),
        ({"colour": "x"}, "smtp.oauth2.colour: unknown key"),
    ],
)
def test_oauth_settings_checked(change, problem):
    assert schema.problems(good_settings(**change)) == [problem]


def test_oauth_mechanism_needs_log_on_using_and_user():
    d = good_settings()
    d["smtp"]["auth"] = "same_as_incoming"
    assert 'smtp.auth: must be "log_on_using" (needed when smtp.mechanisms lists XOAUTH2)' in schema.problems(d)
    d = good_settings()
    d["smtp"]["user"] = ""
    d["smtp"]["mechanisms"] = ["OAUTHBEARER", "PLAIN"]
    assert schema.problems(d) == [
        "smtp.user: missing (needed when smtp.auth is log_on_using)",
        "smtp.user: missing (needed when smtp.mechanisms lists OAUTHBEARER)",
    ]
    assert schema.problems(good_settings()) == []
    d = good_settings()
    d["smtp"]["oauth2"] = "x"
    assert schema.problems(d)[0] == "smtp.oauth2: must be an object"


def test_settings_show_hides_oauth_secrets(tmp_path, capsys):
    from tools import settings as tool

    path = _saved(tmp_path, good_settings())
    assert tool.main(["show", path]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["smtp"]["oauth2"]["refresh_token"] == shown["smtp"]["oauth2"]["client_secret"] == "***"


UNIX_CODE = """
from mailer import https, oauth2
print(oauth2.initial(b"XOAUTH2", b"u@x", b"tok", "h", 1).decode())
print(oauth2.initial(b"OAUTHBEARER", b"a,b=c@x", b"tok", "smtp.x", 587).decode())
print(oauth2.failure(b"eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ=="))
for junk in (b"not base64!", b"//79", b"bnVsbA==", b"WyJzdGF0dXMiXQ==", b""):
    print(oauth2.failure(junk))
print(https.form((("a", "x y&z=\\u00e9~"), ("b", ""))).decode())
print(https.parse_response(b"HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n2\\r\\n{}\\r\\n0\\r\\n\\r\\n"))
"""


def test_same_results_on_the_unix_port():
    r = mpy.run_code(UNIX_CODE)
    assert r.returncode == 0, r.stderr
    want = [
        oauth2.initial(b"XOAUTH2", b"u@x", b"tok", "h", 1).decode(),
        oauth2.initial(b"OAUTHBEARER", b"a,b=c@x", b"tok", "smtp.x", 587).decode(),
        "401 scope=https://mail.google.com/ schemes=Bearer",
        "?",
        "?",
        "?",
        "?",
        "?",
        "a=x%20y%26z%3D%C3%A9~",
        "(200, b'{}')",
    ]
    assert r.stdout.splitlines() == want
