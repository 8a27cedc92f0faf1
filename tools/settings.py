"""Settings files for the board, checked with the firmware's own code.

    python -m tools.settings new [FILE] [--force]   write an example (explained on stderr)
    python -m tools.settings check FILE             print every problem; exit 1 if any
    python -m tools.settings show FILE              the settings as loaded, passwords as ***
    python -m tools.settings push FILE [--port PORT] [--resume]
                                                    check, then copy to the board's /settings.json
    python -m tools.settings oauth FILE --provider microsoft|google --client-id ID --user ADDR
                                    [--client-secret S] [--tenant T] [--device-url U --token-url U]
                                    [--ca CAFILE]   the provider's device-code sign-in, once, on
                                                    this machine: the refresh token into FILE

Exit status: 0 good, 1 bad settings (or push failed), 2 usage.
"""

import argparse
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "firmware"))

from mailer import schema, settings  # noqa: E402
from mailer.errors import MailError  # noqa: E402
from mailer.flashfile import read_with_fallback  # noqa: E402

# The seed device's default choices: SMTP AUTH with the incoming (POP3) account, STARTTLS
# required, the server certificate checked against ca.der. Placeholders to replace.
EXAMPLE = {
    "version": settings.VERSION,
    "incoming": {
        "host": "pop.example.com",
        "port": 110,
        "tls": "starttls",
        "user": "device@example.com",
        "password": "change-me",
    },
    "smtp": {
        "host": "smtp.example.com",
        "port": 587,
        "tls": "required",
        "auth": "same_as_incoming",
        "verify": "ca",
        "ca_file": "ca.der",
        "timeout_s": 10,
    },
    "mail": {"from": "Device <device@example.com>", "to": ["ops@example.com"], "subject_prefix": "[device] "},
    "wifi": {"ssid": "office", "password": "change-me"},
    "board": "unix",
}

EXPLAIN = """\
%s: example settings written; edit it, then `check` and `push` it. JSON has no comments:
  incoming      the POP3 account; smtp.auth "same_as_incoming" logs in to SMTP with it
  smtp.tls      required (STARTTLS or fail, #862) | opportunistic | off | implicit (port 465)
  smtp.auth     same_as_incoming | log_on_using (smtp.user, smtp.password) | pop_before_smtp | none
  smtp.verify   ca (smtp.ca_file, DER or PEM, copied to the board too) | pin (smtp.pin_sha256) | off
  mail          sender, default recipients, subject prefix
  board         a definition under boards/ (without .json)
Keys left out take their defaults (README, "Settings reference")."""


def _read(path):
    # The file's JSON, or exit 1 naming why it cannot be read.
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except (OSError, ValueError) as e:
        print("%s: %s" % (path, e))
        raise SystemExit(1) from None


def cmd_new(a):
    if os.path.exists(a.file) and not a.force:
        print("%s: exists (use --force to replace it)" % a.file, file=sys.stderr)
        return 1
    with open(a.file, "w") as f:
        json.dump(EXAMPLE, f, indent=1)
        f.write("\n")
    print(EXPLAIN % a.file, file=sys.stderr)
    return 0


def ca_on_host(path, cfg):
    """Where the CA file that settings `cfg` (from the file `path`) name is on the host, or None
    when they check no CA. A relative smtp.ca_file is beside the settings file: the one rule of
    send, probe, deploy, check and push, as on a board, whose current folder holds settings.json."""
    smtp = cfg["smtp"]
    if smtp["verify"] != "ca" or smtp["tls"] == "off":
        return None
    ca = smtp["ca_file"]
    return ca if os.path.isabs(ca) else os.path.join(os.path.dirname(os.path.abspath(path)), ca)


def ca_for_board(path, cfg):
    """(host path, path on the board) of the CA file to copy with the settings, or None.
    ValueError for a smtp.ca_file a board cannot have (absolute, or outside its folder).
    A PEM file goes to the board as DER, under the name the settings give (the firmware takes
    either, by content): a board reads it at every connect, and from PEM that takes two more
    copies of it (the base64 text joined, then decoded) in one piece each, 1.9 KB and 1.4 KB for a
    common RSA root, at the moment of the send when the heap has least room."""
    host = ca_on_host(path, cfg)
    if host is None:
        return None
    name = cfg["smtp"]["ca_file"]
    if os.path.isabs(name) or ".." in name:
        raise ValueError("smtp.ca_file: %s must be a path on the board, relative, like ca.der" % name)
    try:
        with open(host, "rb") as f:
            data = f.read()
    except OSError:
        return host, name  # copying it reports what is wrong
    if data[:10] == b"-----BEGIN":
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        try:
            der = x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
        except ValueError:
            raise ValueError("smtp.ca_file: %s is not a certificate (PEM or DER)" % host) from None
        host = os.path.join(ROOT, "build", "board-ca", os.path.basename(name))
        os.makedirs(os.path.dirname(host), exist_ok=True)
        with open(host, "wb") as f:
            f.write(der)
    return host, name


def host_problems(path, cfg):
    """What the firmware cannot check from the board but will fail on: the CA file (relative
    to the settings file's folder, as deploy and push copy it) and the board definition."""
    bad = []
    full = ca_on_host(path, cfg)
    if full:
        try:
            with open(full, "rb") as f:
                data = f.read()
        except OSError as e:
            bad.append("smtp.ca_file: cannot read %s (%s)" % (full, e.strerror or e))
        else:
            if not _is_certificate(data):
                bad.append("smtp.ca_file: %s is not a certificate (PEM or DER)" % full)
    if not os.path.exists(os.path.join(ROOT, "boards", cfg["board"] + ".json")):
        bad.append("board: no boards/%s.json (see boards/README.md)" % cfg["board"])
    return bad


def _is_certificate(data):
    from cryptography import x509

    try:
        if data[:10] == b"-----BEGIN":
            x509.load_pem_x509_certificate(data)
        else:
            x509.load_der_x509_certificate(data)
        return True
    except ValueError:
        return False


def cmd_check(a):
    # The board's own checks (schema.parse: duplicate keys, nesting; schema.build: every value),
    # then what only the host can see (host_problems).
    try:
        with open(a.file, "rb") as f:
            raw, bad = schema.parse(f.read())
    except (OSError, ValueError) as e:
        print("%s: %s" % (a.file, e))
        return 1
    cfg, more = schema.build(raw)
    bad = bad + more or host_problems(a.file, cfg)
    for p in bad:
        print("%s: %s" % (a.file, p))
    if not bad:
        print("%s: ok" % a.file)
    return 1 if bad else 0


def _object(data):
    # What settings.load() takes a file for: JSON, and an object (else the backup is read).
    d = json.loads(data)
    if not isinstance(d, dict):
        raise ValueError("not a JSON object")
    return d


def cmd_show(a):
    backup = a.file + ".bak"
    try:
        d = settings.load(a.file, backup)
    except MailError as e:
        print("%s: %s" % (a.file, e.line()))
        return 1
    if read_with_fallback(a.file, backup, _object)[1]:
        print("%s: unreadable, showing the backup %s" % (a.file, backup), file=sys.stderr)
    print(json.dumps(settings.redacted(d), indent=1, sort_keys=True))
    return 0


def push_argv(path, port, resume=False, ca=None):
    # The settings, and the CA file they name (beside them on the host, under the same relative
    # name on the board), as make deploy copies them. mpremote's soft reset would end a
    # Unix-port board: `resume` skips it.
    argv = [sys.executable, "-m", "mpremote", "connect", port] + (["resume"] if resume else [])
    argv += ["fs", "cp", path, ":settings.json"]
    if ca:
        argv += ["+", "fs", "cp", ca[0], ":" + ca[1]]
    return argv


def cmd_push(a):
    if cmd_check(a):
        return 1
    try:
        ca = ca_for_board(a.file, schema.build(_read(a.file))[0])
    except ValueError as e:
        print("%s: %s" % (a.file, e))
        return 1
    return 1 if subprocess.run(push_argv(a.file, a.port, a.resume, ca)).returncode else 0


# OAuth 2.0 providers (device authorization grant, RFC 8628): endpoints, the scope that allows
# SMTP (and a refresh token: offline_access), the SMTP server, the mechanisms it takes.
PROVIDERS = {
    "microsoft": {
        "device_url": "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
        "token_url": "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        "scope": "https://outlook.office.com/SMTP.Send offline_access",
        "smtp": ("smtp.office365.com", 587),
        "mechanisms": ["XOAUTH2"],
    },
    "google": {
        "device_url": "https://oauth2.googleapis.com/device/code",
        "token_url": "https://oauth2.googleapis.com/token",
        "scope": "https://mail.google.com/",
        "smtp": ("smtp.gmail.com", 587),
        "mechanisms": ["OAUTHBEARER", "XOAUTH2"],
    },
}
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class OAuthError(Exception):
    pass


def _post(url, fields, ctx):
    # (HTTP status, JSON object) of a form POST over verified HTTPS.
    data = urllib.parse.urlencode({k: v for k, v in fields.items() if v}).encode()
    req = urllib.request.Request(url, data, {"Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
            return r.status, json.loads(r.read(65536))
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read(65536))
        except ValueError:
            return e.code, {}


def device_flow(device_url, token_url, client_id, scope, client_secret="", ca=None, out=print, sleep=time.sleep):
    """RFC 8628: ask for a device code, show the user where to sign in, poll the token endpoint
    (honouring interval and slow_down) until the sign-in is done; returns the token response.
    OAuthError when the provider refuses or the code expires. ca: a CA file instead of the system's."""
    ctx = ssl.create_default_context(cafile=ca)
    status, d = _post(device_url, {"client_id": client_id, "scope": scope}, ctx)
    if status != 200 or "device_code" not in d:
        raise OAuthError("device authorization refused: HTTP %d %s" % (status, d.get("error", "")))
    # Google names it verification_url; RFC 8628 3.2 verification_uri.
    out(
        "To sign in, open %s and enter the code %s"
        % (d.get("verification_uri") or d.get("verification_url"), d["user_code"])
    )
    interval = int(d.get("interval", 5))
    left = int(d.get("expires_in", 900))
    while left > 0:
        sleep(interval)
        left -= interval
        fields = {"grant_type": DEVICE_GRANT, "device_code": d["device_code"], "client_id": client_id}
        fields["client_secret"] = client_secret
        status, t = _post(token_url, fields, ctx)
        err = t.get("error")
        if status == 200 and t.get("refresh_token"):
            return t
        if err == "slow_down":  # RFC 8628 3.5: 5 seconds more from now on
            interval += 5
        elif err != "authorization_pending":
            raise OAuthError("token endpoint: HTTP %d %s" % (status, err or "no refresh_token"))
    raise OAuthError("the device code expired before the sign-in was done")


def oauth_settings(path, provider, user, client_id, client_secret, refresh_token, token_url, scope):
    """The settings file `path` (the example when missing) set up for OAuth with this provider
    and refresh token, checked and saved stamped (the old file kept as the backup)."""
    p = PROVIDERS[provider]
    cfg = _read(path) if os.path.exists(path) else json.loads(json.dumps(EXAMPLE))
    if not os.path.exists(path):
        cfg["mail"]["from"] = user
    smtp = cfg.setdefault("smtp", {})
    smtp["host"], smtp["port"] = p["smtp"]
    smtp.update(
        {"tls": "required", "auth": "log_on_using", "user": user, "password": "", "mechanisms": p["mechanisms"]}
    )
    smtp["oauth2"] = dict(
        smtp.get("oauth2") or {},
        token_url=token_url,
        client_id=client_id,
        client_secret=client_secret,
        refresh_token=refresh_token,
        scope=scope,
    )
    settings.save(cfg, path)


def cmd_oauth(a):
    p = PROVIDERS[a.provider]
    device_url = a.device_url or p["device_url"].format(tenant=a.tenant)
    token_url = a.token_url or p["token_url"].format(tenant=a.tenant)
    try:
        t = device_flow(device_url, token_url, a.client_id, p["scope"], a.client_secret, a.ca)
        oauth_settings(
            a.file, a.provider, a.user, a.client_id, a.client_secret, t["refresh_token"], token_url, p["scope"]
        )
    except (OAuthError, OSError) as e:
        print("%s: %s" % (a.file, e))
        return 1
    except MailError as e:
        print("%s: %s" % (a.file, e.line()))
        return 1
    print("%s: refresh token written (smtp.oauth2, %s); `check` and `push` it" % (a.file, ", ".join(p["mechanisms"])))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.settings", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    n = sub.add_parser("new", help="write an example settings file")
    n.add_argument("file", nargs="?", default="settings.json")
    n.add_argument("--force", action="store_true", help="replace an existing file")
    for name, text in (
        ("check", "print every problem"),
        ("show", "print with passwords hidden"),
        ("push", "check, then copy to the board with mpremote"),
    ):
        s = sub.add_parser(name, help=text)
        s.add_argument("file")
        if name == "push":
            s.add_argument("--port", default="auto", help="mpremote device (default: auto)")
            s.add_argument("--resume", action="store_true", help="no soft reset (Unix-port board)")
    o = sub.add_parser("oauth", help="sign in once with the provider's device code; refresh token into FILE")
    o.add_argument("file")
    o.add_argument("--provider", required=True, choices=sorted(PROVIDERS))
    o.add_argument("--client-id", required=True, help="the application (client) id registered with the provider")
    o.add_argument(
        "--client-secret", default="", help="Google's desktop client has one; Microsoft's public client none"
    )
    o.add_argument("--user", required=True, help="the mailbox the board sends as (smtp.user)")
    o.add_argument("--tenant", default="organizations", help="Microsoft: tenant id or domain (default organizations)")
    o.add_argument("--device-url", help="the device authorization endpoint, instead of the provider's")
    o.add_argument("--token-url", help="the token endpoint, instead of the provider's")
    o.add_argument("--ca", help="CA file to verify the endpoints with, instead of the system's")
    a = p.parse_args(argv)
    return {"new": cmd_new, "check": cmd_check, "show": cmd_show, "push": cmd_push, "oauth": cmd_oauth}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
