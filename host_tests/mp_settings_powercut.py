# Runs ON THE MICROPYTHON UNIX PORT (host_tests/test_powercut.py): settings.save() cut by a
# power failure after every possible number of block writes, on the filesystem named by
# argv[1] ("lfs2" or "fat"). Each result is "old" or "new" (+ " backup" when the main file
# could not be read, so load() had to take the backup), or what went wrong. argv[2] "nobackup"
# saves without a backup instead
# (write_atomic's last rename lands on the old file), to show what the backup is for on FAT.
import json
import sys

from mailer import settings
from mailer.flashfile import write_atomic
from powercut_rig import sweep


def version(n):
    # Distinct settings that differ in several groups, so a mix of two would show.
    return {
        "version": 1,
        "smtp": {
            "host": "smtp%d.example.com" % n,
            "port": 587 + n,
            "auth": "log_on_using",
            "user": "su%d" % n,
            "password": "pw%d" % n,
        },
        "mail": {"from": "board%d@example.com" % n, "to": ["ops%d@example.com" % n]},
        "incoming": {"user": "user%d" % n, "password": "pop%d" % n},
    }


NAMES = {1: "older", 2: "old", 3: "new"}
WANT = {n: settings.check(version(n)) for n in NAMES}


def _save(n, root):
    if MODE == "nobackup":
        write_atomic(root + "/settings.json", json.dumps(version(n)).encode())
    else:
        settings.save(version(n), root + "/settings.json")


def setup(root):
    _save(1, root)
    _save(2, root)  # steady state; with save(): settings.json "old", its .bak "older"
    return "ok"


def op(root):
    _save(3, root)
    return "ok"


def _main_unreadable(path):
    # What makes load() take the backup: the main file missing or not JSON.
    try:
        with open(path) as f:
            json.load(f)
        return False
    except (OSError, ValueError):
        return True


def check(root):
    path = root + "/settings.json"
    d = settings.load(path)
    for n, want in WANT.items():
        if d == want:
            return NAMES[n] + (" backup" if _main_unreadable(path) else "")
    return "mix: " + json.dumps(settings.redacted(d))


MODE = sys.argv[2] if len(sys.argv) > 2 else "save"
sweep(setup, op, check, fs=sys.argv[1] if len(sys.argv) > 1 else "lfs2")
