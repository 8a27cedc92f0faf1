# Running firmware on the MicroPython Unix port from tests. Which binary, which mpy-cross and
# how firmware compiles to .mpy: tools/mpbuild.py (re-exported here for the tests).
import os
import subprocess

from tools.mpbuild import (  # noqa: F401
    FIRMWARE,
    ROOT,
    compile_firmware,
    micropython_path,
    mpy_cross_path,
)
from tools.simboard import SIM_PATH


RUNS = 0  # calls of run(): conftest.py notes which tests ran the firmware on the Unix port


def run(args, heapsize=None, opt=None, extra_path=(), timeout=60, cwd=None, input=None, binary=None):
    """Run `micropython [opts] args...` (the 64-bit port unless `binary`) with firmware/ and
    the simulated board's modules (machine, ssd1306, network, ...) on its path, as `make send`
    has them; returns CompletedProcess."""
    global RUNS
    RUNS += 1
    cmd = [binary or micropython_path()]
    if heapsize:
        cmd += ["-X", "heapsize=%s" % heapsize]
    opt = os.environ.get("MPY_OPT") if opt is None else opt
    if opt:
        cmd.append("-O%s" % opt)
    cmd += list(args)
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([FIRMWARE, *extra_path, SIM_PATH, ".frozen"])
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env, input=input)


def run_code(code, **kw):
    return run(["-c", code], **kw)
