# `make demo`: the main job on the embedded default. Starts the local dev mail server
# (STARTTLS and AUTH required, certificates made now and trusted by the demo settings), runs the
# firmware on the MicroPython Unix port as the simulated `unix` board sending one message, shows
# the status the board shows, prints what the server received, and stops the server.
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tools.certs import make_certs  # noqa: E402
from tools.devserver import DevServer, summary  # noqa: E402

USER = "device@example.com"
PASSWORD = "demo-Pa55word"


def demo_settings(port, ca_der):
    # The seed's default: SMTP AUTH "same as my incoming server", TLS required, CA verified.
    return {
        "version": 1,
        "incoming": {"host": "127.0.0.1", "port": 110, "tls": "starttls", "user": USER, "password": PASSWORD},
        "smtp": {"host": "localhost", "port": port, "tls": "required", "auth": "same_as_incoming",
                 "verify": "ca", "ca_file": ca_der, "timeout_s": 10, "ehlo_name": "demo-board.local"},
        "mail": {"from": "Demo board <%s>" % USER, "to": ["ops@example.com"], "subject_prefix": "[demo] "},
        "board": "unix",
    }


def main():
    micropython = os.environ.get("MICROPYTHON") or os.path.join(os.path.dirname(sys.executable), "micropython")
    with tempfile.TemporaryDirectory() as tmp:
        certs = make_certs(os.path.join(tmp, "certs"))
        server = DevServer(certs, users={USER: PASSWORD}).start()
        try:
            path = os.path.join(tmp, "settings.json")
            with open(path, "w") as f:
                json.dump(demo_settings(server.port, certs["ca_der"]), f, indent=1)
            print("dev mail server on 127.0.0.1:%d (STARTTLS and AUTH required)" % server.port)
            print("--- board (MicroPython Unix port, board 'unix') ---", flush=True)
            env = dict(os.environ, MICROPYPATH=os.path.join(ROOT, "firmware") + ":.frozen")
            rc = subprocess.call(
                [micropython, os.path.join(ROOT, "tools", "mp_send.py"), "settings=" + path,
                 "subject=Hello from the simulated board", "boards=" + os.path.join(ROOT, "boards"),
                 "body=This message went over STARTTLS with SMTP AUTH.\n"],
                env=env, cwd=tmp, timeout=120,
            )
            print("--- dev mail server received ---")
            for rec in server.messages:
                print(summary(rec))
            if not server.messages:
                print("nothing")
        finally:
            server.stop()
    return rc


if __name__ == "__main__":
    sys.exit(main())
