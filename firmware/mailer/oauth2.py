# OAuth 2.0 for SMTP AUTH, imported only when smtp.mechanisms lists XOAUTH2 or OAUTHBEARER:
# the SASL initial responses (Google's and Microsoft's XOAUTH2; OAUTHBEARER, RFC 7628), the
# server's failure challenge (RFC 7628 3.2.2), and the access token from the refresh grant
# (RFC 6749 6) over the project's own verified HTTPS (mailer.https), blocking or on asyncio.
# No token, refresh token or client secret ever goes into a log line, an error or a repr.
import binascii
import json

from mailer import https
from mailer.compat import alnum_or, const, ticks_add, ticks_diff, ticks_ms
from mailer.errors import MailError

# Device error codes (mailer.codes; README, "Device error codes").
_COMM = const(801)  # error communicating with the SMTP server
_AUTH = const(839)  # SMTP authentication failed
_OAUTH = const(866)  # OAuth token refused (the refresh grant)

# mailer.session's ops: send back an access token, the cached one / a newly refreshed one.
_TOKEN = const(2)
_FRESH = const(3)

# Refresh this long before the provider's expires_in (the clock of a board drifts, and a token
# must not expire between the check and the AUTH line); at most half the lifetime.
_MARGIN_MS = const(60000)
# expires_in beyond a day is taken as a day: ticks_diff is exact for under half its period.
_MAX_LIFE_S = const(86400)
# The refusals of the grant itself (RFC 6749 5.2): re-authorising on the host is the cure.
_REFUSED = ("invalid_grant", "invalid_client", "unauthorized_client")
# What the answer to a failure challenge is: OAUTHBEARER a single %x01 (RFC 7628 3.2.3),
# XOAUTH2 an empty line; either way the server then sends its 5xx.
ABORT = {b"OAUTHBEARER": b"AQ==\r\n", b"XOAUTH2": b"\r\n"}


def _b64(raw):
    return binascii.b2a_base64(raw)[:-1]


def initial(mech, user, token, host, port):
    """The SASL initial response of mech (b"XOAUTH2" or b"OAUTHBEARER") for user and token
    (bytes) at host (str) and port (int): base64, no CRLF."""
    bearer = b"auth=Bearer " + token + b"\x01\x01"
    if mech == b"XOAUTH2":
        return _b64(b"user=" + user + b"\x01" + bearer)
    # RFC 7628 3.1: a GS2 header naming the user (RFC 5801 saslname: "=" and "," escaped),
    # then host and port, so that a token is bound to the server it was meant for.
    name = user.replace(b"=", b"=3D").replace(b",", b"=2C")
    return _b64(b"n,a=" + name + b",\x01host=" + host.encode() + b"\x01port=%d\x01" % port + bearer)


def login(s, mech):
    """The OAuth branch of handshake.login (a session step: yields what it needs done):
    AUTH mech with the initial response in one round trip; a refused token (a 334 failure
    challenge, answered, then a 5xx; or a 5xx at once) is refreshed once and tried again;
    refused again: #839 with the server's reply and the challenge's status."""
    host, port = s.tokens.server
    op, status = _TOKEN, None
    while True:
        line = b"AUTH " + mech + b" " + initial(mech, s.user, (yield op), host, port) + b"\r\n"
        yield s._cmd(line, "AUTH %s ***" % mech.decode())
        del line
        r = yield from s._reply()
        if r.code == 235:
            return
        if r.code == 334:
            status = failure(r.lines[0] if r.lines else b"")
            yield s._cmd(ABORT[mech])
            r = yield from s._reply()
        if not 500 <= r.code < 600 or op == _FRESH:
            break
        op = _FRESH
    if 500 <= r.code < 600:
        raise MailError(
            _AUTH, "token refused", reply=r.line() + (" (status %s)" % status if status else ""), retry=False
        )
    from mailer import classify

    raise classify.reply_error("auth", r)


def _shown(v, n=64):
    # A server's or endpoint's text as a result line may show it: printable ASCII, short.
    s = v if isinstance(v, str) else str(v)
    return bytes(c if 32 <= c <= 126 else 63 for c in s[:n].encode()).decode()  # 63: "?"


def failure(challenge):
    """The status of a 334 failure challenge (the base64 JSON after "334 ", RFC 7628 3.2.2),
    with its scope and schemes when short; "?" for anything else. Never raises."""
    try:
        d = json.loads(binascii.a2b_base64(challenge))
        out = _shown(d["status"])
        for k in ("scope", "schemes"):
            v = d.get(k)
            if isinstance(v, str) and len(v) <= 64:
                out += " %s=%s" % (k, _shown(v))
        return out
    except (ValueError, TypeError, KeyError, AttributeError):
        return "?"


class TokenSource:
    """token(force=False) -> the access token (bytes), cached in RAM until shortly before it
    expires; force=True refreshes it (the server refused the last one)."""

    # group: the settings' smtp.oauth2 (its refresh_token is updated in place when rotated);
    # tls_cfg: transport.TlsConfig for the endpoint; settings_path: the settings file a rotated
    # refresh token is saved into (None: kept in RAM only); server: the SMTP server's (host,
    # port) the tokens are used at, which OAUTHBEARER names (RFC 7628 3.1).
    def __init__(self, group, tls_cfg, timeout_ms, deadline_ms, settings_path=None, log=None, server=("", 0)):
        self.group = group
        self.host, self.port, self.path = https.split_url(group["token_url"])
        self.tls_cfg = tls_cfg
        self.timeout_ms = timeout_ms
        self.deadline_ms = deadline_ms
        self.settings_path = settings_path
        self.server = server
        self.log = log  # callable(str) or None; never given a secret
        self.access = None
        self.until = 0
        self.refreshes = 0  # grants made: the bench and the tests count them

    def __repr__(self):
        return "<TokenSource %s:%d>" % (self.host, self.port)

    def token(self, force=False):
        if self._valid(force):
            return self.access
        return self._take(*https.post(*self._request()))

    async def atoken(self, force=False):
        """token(force) for the asyncio path: the refresh runs on an asyncio connection."""
        if self._valid(force):
            return self.access
        return self._take(*(await https.apost(*self._request())))

    def _valid(self, force):
        if self.access and not force and ticks_diff(self.until, ticks_ms()) > 0:
            return True
        self.access = None
        return False

    def _request(self):
        # https.post's arguments: the refresh grant (RFC 6749 6) as a form, to the endpoint.
        g = self.group
        body = https.form(
            (
                ("grant_type", "refresh_token"),
                ("refresh_token", g["refresh_token"]),
                ("client_id", g["client_id"]),
                ("client_secret", g["client_secret"]),
                ("scope", g["scope"]),
            )
        )
        if self.log:
            self.log("OAuth: refreshing the access token at %s" % self.host)
        return self.host, self.port, self.path, body, self.timeout_ms, self.deadline_ms, self.tls_cfg

    def _take(self, status, reply):
        # The endpoint's answer: the access token, cached; a rotated refresh token, saved first.
        g = self.group
        d = self._json(status, reply)
        token = d.get("access_token")
        if not isinstance(token, str) or len(token) > 4096 or not _b64token(token):
            raise MailError(_COMM, "token endpoint: no usable access_token")
        new = d.get("refresh_token")
        if isinstance(new, str) and new and new != g["refresh_token"]:
            self.keep(new)
        life = d.get("expires_in", 3600)
        life = int(life) if isinstance(life, int) or isinstance(life, str) and life.isdigit() else 3600
        life = min(life, _MAX_LIFE_S) * 1000
        self.until = ticks_add(ticks_ms(), life - min(_MARGIN_MS, life // 2))
        self.access = token.encode()
        self.refreshes += 1
        return self.access

    def keep(self, refresh_token):
        """Take a rotated refresh token: saved into the settings file at once (atomically,
        the old file kept as the backup) before the access token that came with it is used:
        a one-shot refresh token that was spent and not saved would lock the board out."""
        self.group["refresh_token"] = refresh_token
        if not self.settings_path:
            if self.log:
                self.log("OAuth: new refresh token kept in RAM only (no settings file to save it in)")
            return
        from mailer import settings

        # The file as it is on flash with only this key changed: what the caller's copy holds
        # beyond it (a CA path resolved for the host) is not the file's.
        d = settings.load(self.settings_path)
        d["smtp"]["oauth2"]["refresh_token"] = refresh_token
        settings.save(d, self.settings_path, checked=True)
        if self.log:
            self.log("OAuth: new refresh token saved in " + self.settings_path)

    def _json(self, status, reply):
        # RFC 6749 5.1 (200 and a JSON object) and 5.2 (400/401 and an "error").
        try:
            d = json.loads(reply)
        except ValueError:
            d = None
        if not isinstance(d, dict):
            d = {}
        if status == 200 and d:
            return d
        err = d.get("error")
        err = _shown(err) if isinstance(err, str) else "HTTP %d" % status
        if status in (400, 401) and err in _REFUSED:
            raise MailError(_OAUTH, "token endpoint refused the grant: " + err, retry=False)
        if 400 <= status < 500 and status != 429 and d.get("error"):
            raise MailError(_OAUTH, "token endpoint refused the request: " + err, retry=False)
        raise MailError(_COMM, "token endpoint: " + err)


def _b64token(t):
    # RFC 6750 2.1 b64token: what may follow "Bearer " (no \x01, space or CR/LF to inject).
    body = t.rstrip("=")
    return bool(body) and alnum_or(body.encode(), b"-._~+/")
