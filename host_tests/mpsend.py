# Running tools/mp_send.py on the Unix port for the tests: a settings file for a case, the
# request file mp_send reads, and the send itself with its result parsed.
import json
import os
import time

import mpy
from faultcases import PASSWORD, RCPTS, USER

from tools import send as send_tool

TIMEOUT_S = 1  # smtp.timeout_s of every case: the whole send must end within 3 s
SEND = os.path.join(mpy.ROOT, "tools", "mp_send.py")
BOARDS = os.path.join(mpy.ROOT, "boards")


def make_settings(tmp_path, port, certs, smtp=None):
    """A settings file for a send to the fault server on `port` (SMTP AUTH with USER and
    PASSWORD, "same as incoming"; STARTTLS required, CA checked, unless smtp says otherwise)."""
    cfg = {
        "version": 1,
        "incoming": {"host": "127.0.0.1", "user": USER, "password": PASSWORD},
        "smtp": {
            "host": "localhost",
            "port": port,
            "tls": "required",
            "verify": "ca",
            "ca_file": certs["ca_der"],
            "timeout_s": TIMEOUT_S,
            "ehlo_name": "board.test",
        },
        "mail": {"from": "Board <%s>" % USER, "to": [RCPTS[0]]},
        "board": "unix",
    }
    cfg["smtp"].update(smtp or {})
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(cfg))
    return str(path)


_LISTS = ("to", "cc", "bcc", "attach")


def request(settings, *args):
    """The request=FILE argument of tools/mp_send.py for settings (a path) and name=value
    pairs (to=, cc=, bcc=, attach= as comma lists; verbose=1), written beside the settings."""
    fields = {}
    for a in args:
        k, _, v = a.partition("=")
        fields[k] = send_tool.split_addresses(v) if k in _LISTS else (v == "1" if k in ("verbose", "asyncio") else v)
    path = os.path.join(
        os.path.dirname(os.path.abspath(settings)),
        "request-%d.json" % len(os.listdir(os.path.dirname(os.path.abspath(settings)))),
    )
    return "request=" + send_tool.write_request(path, settings, **fields)


def mp_send(path, rcpts=1, heapsize=None, use_asyncio=False):
    """tools/mp_send.py on the Unix port, verbose: (code or None, retry, refused lines, last
    line, stdout + stderr, elapsed seconds). No traceback, and the exit status matches.
    use_asyncio: through mailer.aclient.adeliver, a ticker task beside it."""
    t0 = time.monotonic()
    args = ["verbose=1", "to=" + ",".join(RCPTS[:rcpts]), "subject=Fault test"]
    r = mpy.run(
        [SEND, request(path, *args, *(["asyncio=1"] if use_asyncio else []))],
        heapsize=heapsize,
        timeout=30,
    )
    elapsed = time.monotonic() - t0
    out = r.stdout + r.stderr
    assert "Traceback" not in out, out
    last = r.stdout.strip().splitlines()[-1]
    refused = [ln for ln in r.stdout.splitlines() if ln.startswith("refused ")]
    if last.startswith("sent <"):
        assert r.returncode == 0, out
        return None, None, refused, last, out, elapsed
    assert last[:1] == "#" and r.returncode in (1, 75), out
    return int(last[1:4]), r.returncode == 75, refused, last, out, elapsed
