"""Settings files for the board, checked with the firmware's own code.

    python -m tools.settings new [FILE] [--force]   write an example (explained on stderr)
    python -m tools.settings check FILE             print every problem; exit 1 if any
    python -m tools.settings show FILE              the settings as loaded, passwords as ***
    python -m tools.settings push FILE [--port PORT] [--resume]
                                                    check, then copy to the board's /settings.json

Exit status: 0 good, 1 bad settings (or push failed), 2 usage.
"""

import argparse
import json
import os
import subprocess
import sys

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
    ValueError for a smtp.ca_file a board cannot have (absolute, or outside its folder)."""
    host = ca_on_host(path, cfg)
    if host is None:
        return None
    name = cfg["smtp"]["ca_file"]
    if os.path.isabs(name) or ".." in name:
        raise ValueError("smtp.ca_file: %s must be a path on the board, relative, like ca.der" % name)
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
    a = p.parse_args(argv)
    return {"new": cmd_new, "check": cmd_check, "show": cmd_show, "push": cmd_push}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
