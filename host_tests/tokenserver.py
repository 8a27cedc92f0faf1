# A real OAuth 2.0 token endpoint on 127.0.0.1 over HTTPS (the tools/certs.py server
# certificate), for the OAuth tests: the refresh grant (RFC 6749 6) issues access tokens that
# expire (or are expired on purpose, mid-session), rotates refresh tokens one-shot as Microsoft's
# endpoint may (the old one refused from then on), refuses grants, can answer 503; and the
# device authorization grant (RFC 8628) with authorization_pending and slow_down.
# valid(user, token) is the check the dev SMTP server's XOAUTH2/OAUTHBEARER authenticator makes.
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tools.certs import server_context

CLIENT_ID = "board-app"
CLIENT_SECRET = "client-S3cret-value"
USER = "board@example.com"
DEVICE_PATH = "/tenant/oauth2/v2.0/devicecode"
TOKEN_PATH = "/tenant/oauth2/v2.0/token"


class TokenServer:
    """.token_url, .device_url; .refresh_tokens (the valid ones), .access (token -> expiry,
    monotonic s), .grants (every token request's form, as a dict); rotate: issue a new refresh
    token with each grant and refuse the one used; status: answer every token request with
    this HTTP status instead (503: the endpoint is in trouble); expires_in: what is issued;
    duds: how many of the next access tokens the SMTP server will refuse (as if they had expired
    on the way)."""

    def __init__(self, certs, refresh_token, rotate=False, expires_in=3600, pending=2):
        self.refresh_tokens = {refresh_token}
        self.rotate = rotate
        self.expires_in = expires_in
        self.status = None
        self.duds = 0
        self.access = {}
        self.grants = []
        self.pending = pending  # polls answered authorization_pending before the user "approves"
        self.devices = {}
        self.lock = threading.Lock()
        ctx = server_context(certs)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass  # quiet tests

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode(), keep_blank_values=True))
                with owner.lock:
                    status, body = owner.answer(self.path, self.headers, form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.token_url = "https://localhost:%d%s" % (self.port, TOKEN_PATH)
        self.device_url = "https://localhost:%d%s" % (self.port, DEVICE_PATH)
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def valid(self, user, token):
        with self.lock:
            return user == USER and self.access.get(token, 0) > time.monotonic()

    def expire_all(self):
        """Every access token issued so far expires now (the client's cache does not know)."""
        with self.lock:
            self.access = dict.fromkeys(self.access, 0)

    def _issue(self, refresh=None):
        at = "at-" + secrets.token_urlsafe(24)
        self.access[at] = 0 if self.duds else time.monotonic() + self.expires_in
        self.duds = max(0, self.duds - 1)
        out = {"token_type": "Bearer", "access_token": at, "expires_in": self.expires_in}
        if refresh:
            out["refresh_token"] = refresh
        return out

    def answer(self, path, headers, form):
        if path == DEVICE_PATH:
            code = "dc-" + secrets.token_urlsafe(8)
            self.devices[code] = self.pending
            return 200, {
                "device_code": code,
                "user_code": "ABCD-EFGH",
                "verification_uri": "https://microsoft.com/devicelogin",
                "expires_in": 900,
                "interval": 1,
            }
        if path != TOKEN_PATH:
            return 404, {"error": "not_found"}
        self.grants.append(dict(form))
        if self.status:
            return self.status, {"error": "temporarily_unavailable"}
        if headers.get("Content-Type") != "application/x-www-form-urlencoded":
            return 400, {"error": "invalid_request"}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret", CLIENT_SECRET) != CLIENT_SECRET:
            return 401, {"error": "invalid_client"}
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            left = self.devices.get(form.get("device_code"))
            if left is None:
                return 400, {"error": "expired_token"}
            self.devices[form["device_code"]] = left - 1
            if left == self.pending and left > 1:
                return 400, {"error": "slow_down"}
            if left > 0:
                return 400, {"error": "authorization_pending"}
            del self.devices[form["device_code"]]
            rt = "rt-" + secrets.token_urlsafe(16)
            self.refresh_tokens.add(rt)
            return 200, self._issue(rt)
        if grant != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}
        rt = form.get("refresh_token")
        if rt not in self.refresh_tokens:
            return 400, {"error": "invalid_grant", "error_description": "AADSTS70000: grant expired or revoked"}
        if not self.rotate:
            return 200, self._issue()
        self.refresh_tokens.discard(rt)  # one-shot, as Microsoft's endpoint may
        new = "rt-" + secrets.token_urlsafe(16)
        self.refresh_tokens.add(new)
        return 200, self._issue(new)
