# GC heap figures, shared by bench/run.py and host_tests/test_memory32.py: run the
# firmware's bench worker (bench/mp_work.py) once at a given `-X heapsize`, and find the
# smallest heap a workload needs.
#   W0  idle: the send path's imports + settings.load of a stamped file, nothing sent
#   W1  one short message over STARTTLS + AUTH
#   W2  one message with an attachment (1 KiB or 1 MiB) read from a file
# Near the edge the outcome is not monotonic in the heap size (fragmentation: 80.75 KiB passing,
# 81-82 failing, 83.25 up passing was seen), so a plain bisection can land on a lucky size.
# And the same size can pass in one run and fail in the next: what arrives in each 64-byte
# read depends on timing, and so does what is allocated in between (on the 32-bit port, near
# the edge of W1, a size that passed in 5 of 10 runs was seen). The figure here is the smallest
# size from which every size up to WINDOW more, in STEP steps, works in each of RUNS runs.
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tools import mpbuild  # noqa: E402

KIB = 1024
STEP = 256
WINDOW = 4 * KIB
RUNS = 3
WORKER = os.path.join(ROOT, "bench", "mp_work.py")
# The worker's asyncio items (A1, A2), a module of their own imported only for them.
AWORKER = os.path.join(ROOT, "bench", "mp_awork.py")


def write_settings(path, port, ca_der, user, password, sender, to):
    """A settings file as a deployed board has it: written (and stamped) by mailer.settings.save,
    so that load() on the board trusts it without importing the validator. The caller puts the
    firmware folder (mpbuild.FIRMWARE) on sys.path."""
    from mailer import settings

    settings.save(
        {
            "smtp": {
                "host": "localhost",
                "port": port,
                "auth": "log_on_using",
                "user": user,
                "password": password,
                "ca_file": ca_der,
                "timeout_s": 30,
            },
            "mail": {"from": sender, "to": [to]},
        },
        path,
    )
    return path


def compile_worker(out, firmware=True):
    """out/lib/ with mp_work.mpy and mp_awork.mpy, and the firmware's .mpy too unless firmware=False (for a binary
    with the firmware frozen in: nothing on the path may shadow it). Returns str(out): the
    worker runs in that folder (path_code()), so that each module is imported from
    lib/mailer/x.mpy, as on a board from /lib/mailer/x.mpy, the name it is compiled with
    (mpbuild.compile_files): the heap holds the names a board's holds, not a longer host path."""
    lib = os.path.join(str(out), "lib")
    if firmware:
        mpbuild.compile_firmware(lib, scripts=[WORKER, AWORKER], lib="lib/")
    else:
        mpbuild.compile_files(lib, [(WORKER, "mp_work.py"), (AWORKER, "mp_awork.py")])
    return str(out)


def path_code(root):
    # The worker's folder and path: nothing but root/lib and the binary's frozen modules.
    return "import os, sys\nos.chdir(%r)\nsys.path[:] = ['lib', '.frozen']\n" % root


def mp_cmd(binary, root, settings, heapsize=None):
    code = path_code(root) + "sys.argv[:] = ['mp_work', %r]\nimport mp_work\n" % settings
    cmd = [binary]
    if heapsize:
        cmd += ["-X", "heapsize=%d" % heapsize]
    return cmd + ["-c", code]


def run_once(binary, lib, settings, line, heapsize, timeout=120):
    """(ok, output) of one worker process answering `line` with a heap of `heapsize` bytes."""
    r = subprocess.run(
        mp_cmd(binary, lib, settings, heapsize), input=line + "\n", capture_output=True, text=True, timeout=timeout
    )
    return r.returncode == 0 and r.stdout.startswith("ok "), r.stdout + r.stderr


def works(binary, lib, settings, line, heapsize, runs=RUNS):
    """Whether `line` works at heapsize in each of `runs` worker processes (stops at the first
    that fails)."""
    return all(run_once(binary, lib, settings, line, heapsize)[0] for _ in range(runs))


def smallest_heap(works, lo=4 * KIB, hi=256 * KIB, step=STEP, window=WINDOW):
    """The smallest heap h (a multiple of step) such that works(s) for every s in h, h + step,
    ..., h + window. Bisection finds an edge, then a scan upwards from it moves past every
    failure within the window. None when it fails even at hi."""
    if not works(hi):
        return None
    while hi - lo > step:  # works(hi), not works(lo) (or lo not tried)
        mid = (lo + hi) // 2 // step * step
        if works(mid):
            hi = mid
        else:
            lo = mid
    h, s = hi, hi + step
    while s <= h + window:
        if works(s):
            s += step
        else:
            h = s = s + step
            while not works(h):
                h = s = h + step
            s += step
    return h
