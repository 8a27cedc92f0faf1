# The one place that says which MicroPython binaries and which mpy-cross the host tools use,
# which files go on a board, and how they are compiled to .mpy. Used by bench/, host_tests/
# (through host_tests/mpy.py), tools/deploy.py and tools/dist.py.
import glob
import hashlib
import os
import re
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
BIN = os.path.join(ROOT, ".venv", "bin")
# The 32-bit Unix port (pointers 4 bytes, as on an ESP32): ../shared/mp32/README.md.
MP32_DIR = os.path.join(os.path.dirname(ROOT), "shared", "mp32")
FROZEN_DIR = os.path.join(ROOT, "build", "mp32-frozen")


def micropython_path():
    """The 64-bit Unix port: MICROPYTHON=path (as for the Makefile), else the pinned one."""
    return os.environ.get("MICROPYTHON") or os.path.join(BIN, "micropython")


def mp32_path():
    """The 32-bit Unix port: MP32=path, else ../shared/mp32/micropython beside the repo."""
    return os.environ.get("MP32") or os.path.join(MP32_DIR, "micropython")


def mpy_cross_path():
    return os.path.join(BIN, "mpy-cross")


def mpy_version():
    """(major, minor) of the .mpy files this mpy-cross writes, e.g. (6, 3)."""
    out = subprocess.run([mpy_cross_path(), "--version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"mpy v(\d+)\.(\d+)", out)
    if not m:
        raise RuntimeError("cannot read the .mpy version from: " + out)
    return int(m.group(1)), int(m.group(2))


# The asyncio client and board loop (README section 5): a board gets them when its definition
# says "asyncio": true, or when asked (make deploy ASYNCIO=1); the blocking path never loads them.
ASYNCIO_FILES = ("aapp.py", "aclient.py", "aconn.py")


def board_files(probe=False, asyncio=True):
    """[(source, path on the board)]: firmware/mailer/*.py (mailer.probe only when asked for:
    it is not on the send path; the asyncio modules unless asyncio=False) and main.py, as
    `make deploy` and `make dist` install them."""
    out = []
    for src in sorted(glob.glob(os.path.join(FIRMWARE, "mailer", "*.py"))):
        name = os.path.basename(src)
        if (name != "probe.py" or probe) and (name not in ASYNCIO_FILES or asyncio):
            out.append((src, "mailer/" + name))
    return out + [(os.path.join(FIRMWARE, "main.py"), "main.py")]


def compile_py(src, dest, name):
    """mpy-cross src -> dest with `-s name`, the name tracebacks give: no host path is embedded
    in the .mpy. -O3 leaves out the line numbers (a traceback names the file and the function,
    each at line 1): 32-bit, one message then needs about 0.8 KiB less heap."""
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    subprocess.run([mpy_cross_path(), "-O3", "-s", name, "-o", dest, src], check=True)
    return dest


def compile_files(out, files, lib="/lib/"):
    """Compile [(source, board path .py)] into out/<board path>.mpy; returns the .mpy paths.
    A module of the package is named by the file a board imports it from, lib + mailer/x.mpy
    (the import interns that path; given as the source name too, it is one name, not two:
    16 fewer on the heap of a send). Other files keep their board path."""
    made = []
    for src, name in files:
        mpy = name[:-3] + ".mpy"
        made.append(compile_py(src, os.path.join(str(out), mpy), lib + mpy if name[:7] == "mailer/" else name))
    return made


def compile_firmware(out, modules=None, scripts=(), lib="/lib/"):
    """Compile firmware/mailer (or only `modules`, names without .py) to out/mailer/*.mpy and
    each script to out/<name>.mpy, for the Unix port to load from out (lib: compile_files).
    Returns str(out)."""
    if modules is None:
        files = [f for f in board_files(probe=True) if f[1] != "main.py"]
    else:
        files = [(os.path.join(FIRMWARE, "mailer", m + ".py"), "mailer/%s.py" % m) for m in modules]
    files += [(s, os.path.basename(s)) for s in scripts]
    os.makedirs(os.path.join(str(out), "mailer"), exist_ok=True)
    compile_files(out, files, lib)
    return str(out)


def can_run(binary):
    """None when `binary` runs here, else why not (a missing file, or a missing 32-bit libc:
    `apt-get install libc6-i386`)."""
    if not os.path.exists(binary):
        return "%s not found" % binary
    try:
        r = subprocess.run([binary, "-c", "print(1)"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        return "%s does not run: %s (32-bit binary: apt-get install libc6-i386)" % (binary, e)
    if r.stdout.strip() != "1":
        return "%s does not run: %s" % (binary, r.stderr.strip()[:200])
    return None


def _frozen_manifest():
    # The Unix port's own frozen modules (asyncio, ssl, ...) plus the mailer package.
    return 'include("$(PORT_DIR)/variants/standard/manifest.py")\npackage("mailer", base_path=%r)\n' % FIRMWARE


def frozen_mp32(log=print):
    """The 32-bit Unix port with firmware/mailer frozen into it (how a board runs frozen
    bytecode: from flash, not from the GC heap), built into build/mp32-frozen/ by
    ../shared/mp32/build.sh and rebuilt only when the firmware's sources change.
    Returns (binary path, None) or (None, why it could not be built)."""
    for tool in ("gcc", "g++", "make"):
        if not any(os.access(os.path.join(d, tool), os.X_OK) for d in os.environ.get("PATH", "").split(os.pathsep)):
            return None, "%s not found (apt-get install build-essential gcc-multilib g++-multilib)" % tool
    # Without the 32-bit C headers the port's qstr preprocessing finds nothing, and the build
    # fails minutes later with an AssertionError in makemoduledefs.py: ask gcc first.
    r = subprocess.run(
        ["gcc", "-m32", "-E", "-x", "c", "-", "-o", os.devnull],
        input="#include <stdio.h>\n",
        capture_output=True,
        text=True,
    )
    if r.returncode:
        return None, "gcc cannot build 32-bit programs (apt-get install gcc-multilib g++-multilib)"
    manifest = _frozen_manifest()
    h = hashlib.sha256(manifest.encode())
    for src in sorted(glob.glob(os.path.join(FIRMWARE, "mailer", "*.py"))):
        with open(src, "rb") as f:
            h.update(os.path.basename(src).encode() + b"\0" + f.read() + b"\0")
    digest = h.hexdigest()
    src_dir = os.path.join(FROZEN_DIR, "src")
    binary = os.path.join(src_dir, "ports", "unix", "build-32-frozen", "micropython")
    stamp = os.path.join(FROZEN_DIR, "sources.sha256")
    if os.path.exists(binary) and os.path.exists(stamp):
        with open(stamp) as f:
            if f.read().strip() == digest:
                return binary, None
    os.makedirs(src_dir, exist_ok=True)
    # makemanifest reuses a cached .mpy newer than its source: sources with older dates (a
    # git checkout, another --firmware folder) would stay unfrozen. Drop the cache.
    shutil.rmtree(os.path.join(os.path.dirname(binary), "frozen_mpy"), ignore_errors=True)
    path = os.path.join(FROZEN_DIR, "manifest.py")
    with open(path, "w") as f:
        f.write(manifest)
    log("building the frozen 32-bit port in %s (about 3 minutes the first time)" % os.path.relpath(FROZEN_DIR, ROOT))
    # build.sh passes FROZEN_MANIFEST on to mpy-cross's make as well, whose link then fails
    # (undefined mp_qstr_frozen_const_pool): build mpy-cross first without it.
    env = {k: v for k, v in os.environ.items() if k != "FROZEN_MANIFEST"}
    steps = []
    if not os.path.exists(os.path.join(src_dir, "py", "mpconfig.h")):
        steps.append(["tar", "-xJf", os.path.join(MP32_DIR, "micropython-src.tar.xz"), "-C", src_dir])
    steps.append(["make", "-s", "-j2", "-C", os.path.join(src_dir, "mpy-cross")])
    for cmd in steps:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
        if r.returncode:
            return None, "frozen build failed: %s: %s" % (" ".join(cmd[:2]), r.stderr.strip()[-500:])
    env.update(OUT=src_dir, FROZEN_MANIFEST=path)
    r = subprocess.run(
        ["sh", os.path.join(MP32_DIR, "build.sh")], env=env, capture_output=True, text=True, timeout=1200
    )
    if r.returncode or not os.path.exists(binary):
        return None, "frozen build failed: " + (r.stderr or r.stdout).strip()[-500:]
    with open(stamp, "w") as f:
        f.write(digest + "\n")
    return binary, None
