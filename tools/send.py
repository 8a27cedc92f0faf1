"""Send one message with the firmware on the MicroPython Unix port, as a board would.

    .venv/bin/python -m tools.send --settings FILE --to ADDR [--subject S] [--body TEXT |
        --body - (stdin) | --body-file PATH] [--attach PATH ...] [--cc ADDR ...] [--bcc ADDR ...]
        [--verbose]

`make send SETTINGS=... TO=... [SUBJECT=..] [BODY=..|BODY=-] [BODY_FILE=..] ...` runs this with
the same values. Every value reaches the firmware byte for byte: the request goes to the Unix
port as a JSON file, never on its command line (an argument of 256 bytes or more crashes the
port) and never through a shell. The last line printed is "sent <Message-ID>" or the device
code, its meaning and the server's reply. Exit status: 0 sent to every recipient, 75 worth
retrying (EX_TEMPFAIL, as sendmail and msmtp use it), 1 permanent, 2 usage.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tools import mpbuild  # noqa: E402
from tools.simboard import SIM_PATH  # noqa: E402

DEFAULT_SUBJECT = "Test from mailer"
DEFAULT_BODY = "Sent by the mailer firmware.\n"


def _list(values):
    # --to a --to b, or a comma-separated list (a quoted display name may hold a comma).
    out = []
    for v in values or ():
        out += split_addresses(v)
    return out


def split_addresses(text):
    """The addresses in a comma-separated list; a comma inside double quotes is part of a name."""
    parts, cur, quoted = [], "", False
    for c in text:
        if c == '"':
            quoted = not quoted
        if c == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parser():
    p = argparse.ArgumentParser(prog=".venv/bin/python -m tools.send", description=__doc__.split("\n\n")[0])
    p.add_argument("--settings", required=True, help="the settings file (required)")
    p.add_argument(
        "--to", action="append", help="recipient; repeat or separate with commas (default: the settings' mail.to)"
    )
    p.add_argument("--cc", action="append")
    p.add_argument("--bcc", action="append")
    p.add_argument("--subject", default=DEFAULT_SUBJECT)
    p.add_argument("--body", help="the text; - reads it from standard input")
    p.add_argument("--body-file", help="read the text from this file")
    p.add_argument("--attach", action="append", help="a file to attach; repeat or separate with commas")
    p.add_argument("--verbose", action="store_true", help="print the whole dialogue (secrets as ***)")
    return p


def from_make(env):
    """argv for parser() from make's MAIL_* variables (the Makefile exports them unexpanded)."""
    argv = []
    for key, opt in (
        ("SETTINGS", "--settings"),
        ("TO", "--to"),
        ("CC", "--cc"),
        ("BCC", "--bcc"),
        ("SUBJECT", "--subject"),
        ("BODY", "--body"),
        ("BODY_FILE", "--body-file"),
        ("ATTACH", "--attach"),
    ):
        v = env.get("MAIL_" + key, "")
        if v:
            argv.append(opt + "=" + v)  # one word: a value may start with "-"
    if env.get("MAIL_VERBOSE", "") not in ("", "0"):
        argv.append("--verbose")
    return argv


def write_request(path, settings, **values):
    """Write the request tools/mp_send.py reads: settings (a path), to, cc, bcc, attach (lists),
    subject, body, verbose, display; boards defaults to this repository's boards/."""
    req = {"settings": os.path.abspath(settings), "boards": os.path.join(ROOT, "boards")}
    req.update(values)
    with open(path, "w") as f:
        json.dump(req, f)
    return path


def request(a, stdin):
    if a.body is not None and a.body_file:
        raise SystemExit("give --body or --body-file, not both")
    if a.body == "-":
        body = stdin.buffer.read().decode("utf-8", "replace")
    elif a.body_file:
        with open(a.body_file, encoding="utf-8") as f:
            body = f.read()
    else:
        body = DEFAULT_BODY if a.body is None else a.body
    return {
        "to": _list(a.to),
        "cc": _list(a.cc),
        "bcc": _list(a.bcc),
        "subject": a.subject,
        "body": body,
        "attach": [os.path.abspath(p) for p in _list(a.attach)],
        "verbose": a.verbose,
    }


def main(argv=None, stdin=sys.stdin):
    if argv is None:
        argv = sys.argv[1:]
    if argv == ["--from-make"]:
        argv = from_make(os.environ)
        if not any(x.startswith("--settings=") for x in argv):
            print(
                "usage: make send SETTINGS=path.json TO=addr [SUBJECT=..] [BODY=..|BODY=-] "
                "[BODY_FILE=..] [ATTACH=a,b] [CC=..] [BCC=..] [VERBOSE=1]",
                file=sys.stderr,
            )
            return 2
    a = parser().parse_args(argv)
    req = request(a, stdin)
    fd, path = tempfile.mkstemp(prefix="mailer-send-", suffix=".json")
    os.close(fd)
    try:
        write_request(path, a.settings, **req)
        env = dict(os.environ, MICROPYPATH=":".join([mpbuild.FIRMWARE, SIM_PATH, ".frozen"]))
        return subprocess.run(
            [mpbuild.micropython_path(), os.path.join(ROOT, "tools", "mp_send.py"), "request=" + path], env=env
        ).returncode
    finally:
        os.remove(path)


if __name__ == "__main__":
    sys.exit(main())
