# OAuth 2.0 for SMTP AUTH, imported only when smtp.mechanisms lists XOAUTH2 or OAUTHBEARER:
# the SASL initial responses (Google's and Microsoft's XOAUTH2; OAUTHBEARER, RFC 7628), the
# server's failure challenge (RFC 7628 3.2.2), and the access token from the refresh grant
# (RFC 6749 6) over the project's own verified HTTPS (mailer.transport): micropython-lib's
# requests wraps HTTPS with CERT_NONE and would hand the refresh token to any server.
# No token, refresh token or client secret ever goes into a log line, an error or a repr.
import binascii
import json

from mailer.compat import Deadline, const, ticks_add, ticks_diff, ticks_ms
from mailer.errors import AUTH, CERT, CLOCK, COMM, OAUTH, SETTINGS, TLS_CLIENT_CERT, TLS_NO_COMMON, MailError

# Refresh this long before the provider's expires_in (the clock of a board drifts, and a token
# must not expire between the check and the AUTH line); at most half the lifetime.
_MARGIN_MS = const(60000)
# expires_in beyond a day is taken as a day: ticks_diff is exact for under half its period.
_MAX_LIFE_S = const(86400)
# The whole HTTP response held in RAM: status line, headers and the JSON (a Microsoft access
# token is a JWT of 1.5-3 KB, and a rotated refresh token comes with it).
MAX_RESPONSE = const(8192)
_READ = const(512)
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
    """The OAuth branch of Session.login (a step of mailer.session: yields what it needs done):
    AUTH mech with the initial response in one round trip; a refused token (a 334 failure
    challenge, answered, then a 5xx; or a 5xx at once) is refreshed once and tried again;
    refused again: #839 with the server's reply and the challenge's status."""
    from mailer.session import FRESH, TOKEN

    host, port = s.tokens.server
    op, status = TOKEN, None
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
        if not 500 <= r.code < 600 or op == FRESH:
            break
        op = FRESH
    if 500 <= r.code < 600:
        raise MailError(
            AUTH, "token refused", reply=r.line() + (" (status %s)" % status if status else ""), retry=False
        )
    from mailer import classify

    raise classify.reply_error("auth", r)


def _shown(v, n=64):
    # A server's or endpoint's text as a result line may show it: printable ASCII, short.
    s = v if isinstance(v, str) else str(v)
    return "".join(c if " " <= c <= "~" else "?" for c in s[:n])


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


def _quote(v):
    # application/x-www-form-urlencoded (RFC 6749 appendix B): all but unreserved as %XX.
    out = bytearray()
    for c in v.encode():
        if 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c in b"-._~":
            out.append(c)
        else:
            out += b"%%%02X" % c
    return bytes(out)


def form(pairs):
    """The form body of (name, value) pairs; an empty value is left out."""
    return b"&".join(k.encode() + b"=" + _quote(v) for k, v in pairs if v)


def split_url(url):
    """(host, port, path) of an https:// URL (settings checked it: mailer.schema)."""
    if url[:8] != "https://":
        raise MailError(SETTINGS, "smtp.oauth2.token_url: must be https://host[:port]/path")
    hostport, _, path = url[8:].partition("/")
    host, _, port = hostport.partition(":")
    return host, int(port) if port else 443, "/" + path


def _header_end(buf):
    i = buf.find(b"\r\n\r\n")
    return -1 if i < 0 else i + 4


def _length(head):
    # Content-Length, or None when the body ends with the connection (or is chunked).
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return None


def complete(buf):
    """Whether buf holds a whole response: headers and Content-Length bytes of body."""
    end = _header_end(buf)
    if end < 0:
        return False
    n = _length(buf[:end])
    return n is not None and len(buf) - end >= n


def _dechunk(body):
    # RFC 9112 7.1: size in hex (extensions after ";"), CRLF, data, CRLF; a 0 size ends it.
    out = b""
    while True:
        line, sep, rest = body.partition(b"\r\n")
        size = line.split(b";")[0].strip()
        if not sep or not size or size.strip(b"0123456789abcdefABCDEF"):
            raise ValueError("bad chunk")
        n = int(size, 16)
        if n == 0:
            return out
        if len(rest) < n + 2:
            raise ValueError("truncated chunk")
        out += rest[:n]
        body = rest[n + 2 :]


def parse_response(buf):
    """(status, body) of an HTTP/1.x response in buf (bytes); MailError #801 when it is not one."""
    end = _header_end(buf)
    parts = buf[:end].split(b" ", 2)
    if end < 0 or buf[:7] != b"HTTP/1." or len(parts) < 2 or not parts[1].isdigit():
        raise MailError(COMM, "token endpoint: not an HTTP response")
    head, body = buf[:end], buf[end:]
    n = _length(head)
    if n is not None:
        if len(body) < n:
            raise MailError(COMM, "token endpoint: response cut short")
        body = body[:n]
    elif b"chunked" in head.lower():
        try:
            body = _dechunk(body)
        except ValueError as e:
            raise MailError(COMM, "token endpoint: %s" % e) from None
    return int(parts[1]), body


class TokenSource:
    """token(force=False) -> the access token (bytes), cached in RAM until shortly before it
    expires; force=True refreshes it (the server refused the last one)."""

    # group: the settings' smtp.oauth2 (its refresh_token is updated in place when rotated);
    # tls_cfg: transport.TlsConfig for the endpoint; settings_path: the settings file a rotated
    # refresh token is saved into (None: kept in RAM only); server: the SMTP server's (host,
    # port) the tokens are used at, which OAUTHBEARER names (RFC 7628 3.1).
    def __init__(self, group, tls_cfg, timeout_ms, deadline_ms, settings_path=None, log=None, server=("", 0)):
        self.group = group
        self.host, self.port, self.path = split_url(group["token_url"])
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
        if self.access and not force and ticks_diff(self.until, ticks_ms()) > 0:
            return self.access
        self.access = None
        g = self.group
        body = form(
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
        status, reply = self._post(body)
        del body
        d = self._json(status, reply)
        token = d.get("access_token")
        if not isinstance(token, str) or len(token) > 4096 or not _b64token(token):
            raise MailError(COMM, "token endpoint: no usable access_token")
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
            raise MailError(OAUTH, "token endpoint refused the grant: " + err, retry=False)
        if 400 <= status < 500 and status != 429 and d.get("error"):
            raise MailError(OAUTH, "token endpoint refused the request: " + err, retry=False)
        raise MailError(COMM, "token endpoint: " + err)

    def _post(self, body):
        from mailer import transport

        host = self.host if self.port == 443 else "%s:%d" % (self.host, self.port)
        request = (
            "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            "Accept: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (self.path, host, len(body))
        ).encode()
        conn = None
        try:
            conn = transport.connect(
                self.host, self.port, self.timeout_ms, Deadline(self.deadline_ms), self.tls_cfg, implicit_tls=True
            )
            conn.write(request + body)
            buf = b""
            while not complete(buf):
                data = conn.read(_READ)
                if not data:
                    break
                buf += data
                if len(buf) > MAX_RESPONSE:
                    raise MailError(COMM, "token endpoint: response larger than %d bytes" % MAX_RESPONSE)
        except MailError as e:
            # Certificate, clock and TLS failures keep their codes; anything else (DNS, refused,
            # time-out, reset) is the endpoint unreachable: #801, worth retrying.
            keep = e.code in (CERT, CLOCK, TLS_NO_COMMON, TLS_CLIENT_CERT, OAUTH)
            raise MailError(e.code if keep else COMM, "token endpoint %s: %s" % (self.host, e.detail)) from None
        finally:
            if conn:
                conn.close()
        return parse_response(buf)


def _b64token(t):
    # RFC 6750 2.1 b64token: what may follow "Bearer " (no \x01, space or CR/LF to inject).
    body = t.rstrip("=")
    for c in body:
        if not (c.isalpha() or c.isdigit() or c in "-._~+/") or c > "~":
            return False
    return bool(body)
