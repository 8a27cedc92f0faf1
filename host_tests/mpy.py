# Running firmware on the MicroPython Unix port from tests and tools.
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")


def micropython_path():
    # MICROPYTHON=path (as for the Makefile) selects a user's own Unix-port build.
    env = os.environ.get("MICROPYTHON")
    if env:
        return env
    return os.path.join(os.path.dirname(sys.executable), "micropython")


def run(args, heapsize=None, opt=None, extra_path=(), timeout=60, cwd=None, input=None):
    """Run `micropython [opts] args...` with firmware/ on its path; returns CompletedProcess."""
    cmd = [micropython_path()]
    if heapsize:
        cmd += ["-X", "heapsize=%s" % heapsize]
    opt = os.environ.get("MPY_OPT") if opt is None else opt
    if opt:
        cmd.append("-O%s" % opt)
    cmd += list(args)
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([FIRMWARE, *extra_path, ".frozen"])
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env, input=input
    )


def run_code(code, **kw):
    return run(["-c", code], **kw)
