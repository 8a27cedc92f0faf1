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
from tools.render_display import pixels, png  # noqa: E402
from tools.send import write_request  # noqa: E402
from tools.simboard import SIM_PATH  # noqa: E402

USER = "device@example.com"
PASSWORD = "demo-Pa55word"


def demo_settings(port, ca_der):
    # The seed's default: SMTP AUTH "same as my incoming server", TLS required, CA verified.
    return {
        "version": 1,
        "incoming": {"host": "127.0.0.1", "port": 110, "tls": "starttls", "user": USER, "password": PASSWORD},
        "smtp": {
            "host": "localhost",
            "port": port,
            "tls": "required",
            "auth": "same_as_incoming",
            "verify": "ca",
            "ca_file": ca_der,
            "timeout_s": 10,
            "ehlo_name": "demo-board.local",
        },
        "mail": {"from": "Demo board <%s>" % USER, "to": ["ops@example.com"], "subject_prefix": "[demo] "},
        "board": "unix",
    }


def show_display(dump):
    # The simulated 128x64 OLED as the board left it: in the terminal (two pixel rows per
    # character) and as build/demo_display.png.
    if not os.path.exists(dump):
        return
    with open(dump, "rb") as f:
        rows = pixels(f.read())
    print("--- simulated display (build/demo_display.png) ---")
    for y in range(0, 64, 2):
        print("".join(" \u2580\u2584\u2588"[rows[y][x] + 2 * rows[y + 1][x]] for x in range(128)).rstrip())
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "demo_display.png"), "wb") as f:
        f.write(png(rows))


def main():
    micropython = os.environ.get("MICROPYTHON") or os.path.join(os.path.dirname(sys.executable), "micropython")
    with tempfile.TemporaryDirectory() as tmp:
        certs = make_certs(os.path.join(tmp, "certs"))
        server = DevServer(certs, users={USER: PASSWORD}).start()
        try:
            path = os.path.join(tmp, "settings.json")
            dump = os.path.join(tmp, "display.bin")
            with open(path, "w") as f:
                json.dump(demo_settings(server.port, certs["ca_der"]), f, indent=1)
            print("dev mail server on 127.0.0.1:%d (STARTTLS and AUTH required)" % server.port)
            print("--- board (MicroPython Unix port, board 'unix') ---", flush=True)
            env = dict(os.environ, MICROPYPATH=":".join((os.path.join(ROOT, "firmware"), SIM_PATH, ".frozen")))
            req = write_request(
                os.path.join(tmp, "request.json"),
                path,
                display=dump,
                subject="Hello from the simulated board",
                body="This message went over STARTTLS with SMTP AUTH.\n",
            )
            rc = subprocess.call(
                [micropython, os.path.join(ROOT, "tools", "mp_send.py"), "request=" + req],
                env=env,
                cwd=tmp,
                timeout=120,
            )
            show_display(dump)
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
