# Dev/test mail server (CPython, aiosmtpd) on 127.0.0.1: STARTTLS offered and required before
# AUTH/MAIL (or not offered at all), AUTH PLAIN/LOGIN/CRAM-MD5 against a user table, PIPELINING
# advertised, a SIZE limit, XOAUTH2 and OAUTHBEARER (RFC 7628) against a token check when given
# one, and a second listener with implicit TLS (RFC 8314). Every message is
# recorded with its envelope, whether TLS was on, the authenticated user and mechanism.
#
# In-process: DevServer(certs, users={...}).start() ... .stop()  (ports chosen free).
# CLI (`make devserver`): .venv/bin/python -m tools.devserver [--dir DIR] [--port P] ...
#       -> keeps its certificates in DIR/certs (made once, reused while valid), saves each message
#          in DIR/mail, writes DIR/settings.json for `make send`, prints one "ready ..." line and
#          how to send, serves until Ctrl-C or SIGTERM
#       .venv/bin/python -m tools.devserver --show DIR/mail -> the summary of every message there
import argparse
import base64
import binascii
import email.parser
import email.policy
import hashlib
import hmac
import json
import logging
import os
import secrets
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult, auth_mechanism

if __package__ in (None, ""):  # run as a script: make `tools` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tools.certs import kept_or_made, server_context  # noqa: E402

MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")
OAUTH_MECHANISMS = ("XOAUTH2", "OAUTHBEARER")
# RFC 7628 3.2.2: the failure challenge, the JSON Google's XOAUTH2 sends too.
BEARER_FAILURE = {"status": "invalid_token", "schemes": "bearer", "scope": "https://mail.google.com/"}
DEFAULT_SIZE = 33554432  # aiosmtpd's default SIZE (32 MiB)


class _Login:
    # What a successful AUTH leaves in session.auth_data.
    def __init__(self, login, mechanism):
        self.login = login
        self.mechanism = mechanism


class Handler:
    """aiosmtpd handler. Beware: aiosmtpd treats every attribute named auth_* as an AUTH
    mechanism and every handle_* as a hook."""

    def __init__(self, users, pipelining, on_message, bearer=None):
        self.users = users  # {"user": "password"}
        self.pipelining = pipelining
        self.on_message = on_message
        self.bearer = bearer  # callable(user, token) -> bool, for XOAUTH2 and OAUTHBEARER

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        # For PLAIN and LOGIN. handled=False makes aiosmtpd send the 535 itself; handled=True
        # would leave a failed login without any reply.
        user = auth_data.login.decode("utf-8", "replace")
        ok = self.users.get(user) == auth_data.password.decode("utf-8", "replace")
        return AuthResult(success=ok, handled=False, auth_data=_Login(user, mechanism))

    @auth_mechanism("CRAM-MD5")
    async def auth_CRAM_MD5(self, server, args):
        # RFC 2195: the challenge is a unique msg-id; the answer is "user HMAC-MD5(password,
        # challenge)" in lowercase hex. No initial response is allowed.
        if len(args) > 1:
            return AuthResult(success=False, handled=False, message="501 5.5.4 No initial response")
        challenge = "<%s.%d@%s>" % (secrets.token_hex(8), os.getpid(), server.hostname)
        answer = await server.challenge_auth(challenge)
        if answer is MISSING:  # "*" or bad base64: aiosmtpd has already replied 501
            return AuthResult(success=False, handled=True)
        user, _, digest = answer.decode("utf-8", "replace").rpartition(" ")
        password = self.users.get(user)
        ok = password is not None and hmac.compare_digest(
            hmac.new(password.encode(), challenge.encode(), hashlib.md5).hexdigest(), digest
        )
        return AuthResult(success=ok, handled=False, auth_data=_Login(user, "CRAM-MD5"))

    async def _bearer(self, server, args, mechanism):
        # The initial response (or, without one, the answer to an empty challenge) holds the
        # user and "auth=Bearer TOKEN" between ^A separators. A refused token gets the JSON
        # failure challenge; the client's answer (^A, or an empty line) then gets the 535.
        try:
            blob = base64.b64decode(args[1], validate=True) if len(args) > 1 else await server.challenge_auth(b"")
        except binascii.Error:
            return AuthResult(success=False, handled=False, message="501 5.5.2 Can't decode base64")
        if blob is MISSING:
            return AuthResult(success=False, handled=True)
        fields = blob.split(b"\x01")
        if mechanism == "OAUTHBEARER":
            gs2, _, rest = fields[0].partition(b",a=")
            user = rest.rstrip(b",").replace(b"=2C", b",").replace(b"=3D", b"=")
        else:
            user = fields[0][5:] if fields[0][:5] == b"user=" else b""
        auth = [f[12:] for f in fields if f[:12] == b"auth=Bearer "]
        user = user.decode("utf-8", "replace")
        if auth and self.bearer(user, auth[0].decode("ascii", "replace")):
            return AuthResult(success=True, handled=False, auth_data=_Login(user, mechanism))
        failure = json.dumps(BEARER_FAILURE).encode()
        if await server.challenge_auth(failure) is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False)

    @auth_mechanism("XOAUTH2")
    async def auth_XOAUTH2(self, server, args):
        return await self._bearer(server, args, "XOAUTH2")

    @auth_mechanism("OAUTHBEARER")
    async def auth_OAUTHBEARER(self, server, args):
        return await self._bearer(server, args, "OAUTHBEARER")

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # aiosmtpd reads pipelined commands in order but does not say so (RFC 2920).
        session.host_name = hostname  # the 5-argument hook must set it itself
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_DATA(self, server, session, envelope):
        # session.ssl is set only after STARTTLS; the transport knows about implicit TLS too.
        tls = server.transport.get_extra_info("ssl_object")
        login = session.auth_data if session.authenticated else None
        self.on_message(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "mail_options": list(envelope.mail_options),
                "content": envelope.original_content,
                "tls": tls is not None,
                "tls_version": tls.version() if tls else None,
                "user": login.login if login else None,
                "mechanism": login.mechanism if login else None,
                "ehlo": session.host_name,
            }
        )
        return "250 2.0.0 OK queued"


class _Controller(Controller):
    def __init__(self, handler, auth_over_clear=False, **kw):
        super().__init__(handler, **kw)
        self.auth_over_clear = auth_over_clear

    def factory(self):
        # AUTH without STARTTLS: on the implicit-TLS listener (encrypted from the first byte,
        # which aiosmtpd does not know) and on the plain server. Set after construction, as
        # aiosmtpd warns about it from its listener thread on every connection otherwise.
        smtp = super().factory()
        smtp._auth_require_tls = not self.auth_over_clear
        return smtp

    # Port 0: the kernel picks a free port; read it back before aiosmtpd's trial connection.
    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        try:
            super()._trigger_server()
        except ssl.SSLError:  # a listener that demands a client certificate refuses the trial
            pass


class DevServer:
    """The dev mail server, in-process (two listener threads). .messages is the list of records
    (dicts: mail_from, rcpt_tos, mail_options, content bytes, tls, tls_version, user, mechanism,
    ehlo); on_message, when given, is called with each record as well. bearer, when given,
    checks the tokens of XOAUTH2 and OAUTHBEARER (callable(user, token) -> bool), which the
    server then offers when `mechanisms` names them."""

    def __init__(
        self,
        certs,
        users=None,
        port=0,
        implicit_port=0,
        starttls=True,
        require_tls=True,
        auth_required=True,
        mechanisms=MECHANISMS,
        pipelining=True,
        size=DEFAULT_SIZE,
        implicit=True,
        cert="server",
        client_ca=False,
        on_message=None,
        bearer=None,
    ):
        self.certs = certs
        self.users = dict(users or {})
        self.messages = []
        self._on_message = on_message
        self.handler = Handler(self.users, pipelining, self._record, bearer)
        ctx = server_context(certs, cert, client_ca)
        common = dict(
            hostname="127.0.0.1",
            server_hostname="localhost",
            authenticator=self.handler.authenticate,
            auth_required=auth_required,
            data_size_limit=size or None,
            auth_exclude_mechanism=[
                m for m in MECHANISMS + OAUTH_MECHANISMS if m not in mechanisms or m in OAUTH_MECHANISMS and not bearer
            ],
        )
        self._starttls = _Controller(
            self.handler,
            port=port,
            tls_context=ctx if starttls else None,
            require_starttls=starttls and require_tls,
            auth_over_clear=not (starttls and require_tls),
            **common,
        )
        self._implicit = (
            _Controller(self.handler, port=implicit_port, ssl_context=ctx, auth_over_clear=True, **common)
            if implicit
            else None
        )
        self.port = self.implicit_port = None

    def _record(self, rec):
        self.messages.append(rec)
        if self._on_message:
            self._on_message(rec)

    def start(self):
        # aiosmtpd logs a deprecation warning at every login; keep the console for what matters.
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        try:
            for c in (self._starttls, self._implicit):
                if c:
                    c.start()
        except BaseException:
            self.stop()
            raise
        self.port = self._starttls.port
        self.implicit_port = self._implicit.port if self._implicit else None
        return self

    def stop(self):
        for c in (self._starttls, self._implicit):
            if c and c._thread is not None:
                c.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def summary(rec):
    """Printable lines for one record: envelope, TLS used, authenticated user, subject."""
    headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(rec["content"])
    tls = ("yes (%s)" % rec["tls_version"]) if rec["tls"] else "NO"
    user = "%s (%s)" % (rec["user"], rec["mechanism"]) if rec["user"] else "none"
    return "\n".join(
        (
            "from:    %s" % rec["mail_from"],
            "to:      %s" % ", ".join(rec["rcpt_tos"]),
            "TLS:     %s" % tls,
            "user:    %s" % user,
            "EHLO:    %s" % rec["ehlo"],
            "subject: %s" % headers.get("Subject", ""),
            "size:    %d bytes" % len(rec["content"]),
        )
    )


def save(maildir, rec):
    """Write a record as NNNN.eml (the raw content) and NNNN.json (the rest)."""
    n = len([f for f in os.listdir(maildir) if f.endswith(".json")]) + 1
    stem = os.path.join(maildir, "%04d" % n)
    with open(stem + ".eml", "wb") as f:
        f.write(rec["content"])
    meta = {k: v for k, v in rec.items() if k != "content"}
    # The .json goes last, by rename: a reader never sees it without its .eml.
    with open(stem + ".json.tmp", "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(stem + ".json.tmp", stem + ".json")


def load(maildir):
    """The records saved in maildir, in arrival order."""
    out = []
    for name in sorted(f for f in os.listdir(maildir) if f.endswith(".json")):
        stem = os.path.join(maildir, name[:-5])
        with open(stem + ".json") as f:
            rec = json.load(f)
        with open(stem + ".eml", "rb") as f:
            rec["content"] = f.read()
        out.append(rec)
    return out


def _user(s):
    user, sep, password = s.partition(":")
    if not sep or not user:
        raise argparse.ArgumentTypeError("expected user:password")
    return user, password


DEFAULT_DIR = os.path.join("build", "devserver")
DEFAULT_PORT = 2525  # fixed, so that the settings file stays right across restarts
DEFAULT_USER = ("dev@example.com", "dev-password")


def write_settings(path, port, ca_der, user):
    """A settings file for `make send` against this server (checked and stamped by the
    firmware's own save())."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "firmware"))
    from mailer import settings

    settings.save(
        {
            "smtp": {
                "host": "localhost",
                "port": port,
                "tls": "required",
                "auth": "log_on_using",
                "user": user[0],
                "password": user[1],
                "verify": "ca",
                "ca_file": os.path.abspath(ca_der),
            },
            "mail": {"from": user[0], "to": ["ops@example.com"]},
        },
        path,
    )


def main(argv=None):
    p = argparse.ArgumentParser(
        prog=".venv/bin/python -m tools.devserver",
        description="A local mail server to send to "
        "(STARTTLS and AUTH required). No option is required: it keeps its certificates, messages "
        "and a ready settings file under --dir.",
    )
    p.add_argument(
        "--dir", default=DEFAULT_DIR, help="where certs/, mail/ and settings.json go (default %s)" % DEFAULT_DIR
    )
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="STARTTLS port (default %d; 0: a free one)" % DEFAULT_PORT
    )
    p.add_argument("--implicit-port", type=int, help="also listen with implicit TLS here (0: free)")
    p.add_argument(
        "--user",
        type=_user,
        action="append",
        default=[],
        help="user:password, repeatable (default %s:%s)" % DEFAULT_USER,
    )
    p.add_argument("--certdir", help="certificates (default DIR/certs)")
    p.add_argument("--maildir", help="each message is saved here as .eml + .json (default DIR/mail)")
    p.add_argument("--no-starttls", action="store_true", help="do not offer STARTTLS")
    p.add_argument("--no-pipelining", action="store_true")
    p.add_argument("--size", type=int, default=DEFAULT_SIZE, help="SIZE limit (0: none)")
    p.add_argument("--show", metavar="MAILDIR", help="print the messages saved in MAILDIR, exit")
    a = p.parse_args(argv)
    if a.show:
        recs = load(a.show) if os.path.isdir(a.show) else []
        for rec in recs:
            print(summary(rec) + "\n")
        if not recs:
            print("no messages in %s" % a.show)
        return 0 if recs else 1
    certdir = a.certdir or os.path.join(a.dir, "certs")
    maildir = a.maildir or os.path.join(a.dir, "mail")
    users = a.user or [DEFAULT_USER]
    certs, made = kept_or_made(certdir)
    os.makedirs(maildir, exist_ok=True)
    server = DevServer(
        certs,
        users=dict(users),
        port=a.port,
        implicit_port=a.implicit_port or 0,
        implicit=a.implicit_port is not None,
        starttls=not a.no_starttls,
        pipelining=not a.no_pipelining,
        size=a.size,
        on_message=lambda rec: save(maildir, rec),
    )
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    try:
        server.start()
    except OSError as e:
        print(
            "devserver: cannot listen on 127.0.0.1:%s (%s): choose another with --port" % (a.port, e.strerror or e),
            file=sys.stderr,
        )
        return 1
    try:
        settings_path = os.path.join(a.dir, "settings.json")
        write_settings(settings_path, server.port, certs["ca_der"], users[0])
        print(
            "ready port=%d implicit_port=%s ca=%s settings=%s"
            % (server.port, server.implicit_port or "-", certs["ca_der"], settings_path),
            flush=True,
        )
        print(
            "certificates %s in %s (pin: %s)" % ("made" if made else "kept", certdir, certs["server_sha256"]),
            flush=True,
        )
        print("send: make send SETTINGS=%s TO=you@example.com; messages: %s" % (settings_path, maildir), flush=True)
        done.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
