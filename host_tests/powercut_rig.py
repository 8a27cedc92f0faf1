# Power cuts for real, on the MicroPython Unix port: a filesystem (vfs.VfsLfs2, the ESP32
# default, or vfs.VfsFat) on a RAM block device that stops writing after N block writes, an
# operation run on it, then a fresh mount of the same bytes and a check, for every N from 0 to
# the number of writes the operation makes.
#
# Imported by a MicroPython script (MICROPYPATH includes host_tests/, see run_script) that
# calls sweep(setup, op, check) with its own functions; mp_settings_powercut.py is the example.
# Each function gets the mount point. check() returns a short text (e.g. "old" / "new") or
# raises; the sweep prints one "POWERCUT <json>" line that run_script() parses on CPython.
#
# The cut model: from the cut on, every write and erase is dropped silently, so the medium
# holds exactly what was on it at the cut, whatever the software does afterwards. Raising
# OSError instead would unwind through the filesystem's C code halfway through an update,
# which no real cut does, inside a process that goes on to mount the next device.
import json
import os

MOUNT = "/powercut"
_ERASE = 6  # ioctl ops of MicroPython's block device protocol
_COUNT = 4
_SIZE = 5


class CutDevice:
    # A RAM block device with the extended interface (readblocks/writeblocks with offset,
    # ioctl erase) that LittleFS uses; FAT uses the plain whole-block calls (offset None).
    # Each block written, partial program and erase is one write; writes after the first
    # `limit` are dropped. erased: the byte an erase leaves (0xFF, as NOR flash).
    def __init__(self, data, block_size, limit=None):
        self.data = bytearray(data)
        self.bs = block_size
        self.limit = limit
        self.writes = 0

    def _take(self):
        self.writes += 1
        return self.limit is None or self.writes <= self.limit

    def readblocks(self, block, buf, offset=0):
        a = block * self.bs + offset
        buf[:] = self.data[a : a + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        mv = memoryview(buf)
        if offset is None:  # whole blocks: one write each, so a cut can fall inside the call
            for i in range(len(buf) // self.bs):
                if self._take():
                    a = (block + i) * self.bs
                    self.data[a : a + self.bs] = mv[i * self.bs : (i + 1) * self.bs]
            return 0
        if self._take():
            a = block * self.bs + offset
            self.data[a : a + len(buf)] = mv
        return 0

    def ioctl(self, op, arg):
        if op == _COUNT:
            return len(self.data) // self.bs
        if op == _SIZE:
            return self.bs
        if op == _ERASE:
            if self._take():
                a = arg * self.bs
                self.data[a : a + self.bs] = b"\xff" * self.bs
            return 0
        return 0  # init, deinit, sync: nothing to do in RAM


_FS = {"lfs2": (4096, 32), "fat": (512, 256)}  # block size, blocks (FAT's mkfs wants ~100+)


def _mount(dev, fs):
    import vfs

    cls = vfs.VfsLfs2 if fs == "lfs2" else vfs.VfsFat
    vfs.mount(cls(dev), MOUNT)


def _umount():
    import vfs

    try:
        vfs.umount(MOUNT)
    except OSError:
        pass  # a cut device may refuse the final sync; its bytes are what counts


def _call(fn, dev, fs):
    # Run fn(MOUNT) on dev; the result text, or "error: ..." for any exception.
    try:
        _mount(dev, fs)
    except Exception as e:
        return "error: mount %r" % (e,)
    try:
        return fn(MOUNT)
    except Exception as e:
        return "error: %r" % (e,)
    finally:
        _umount()


def sweep(setup, op, check, fs="lfs2"):
    """Format, setup(), then for N = 0..writes(op): op() with a cut after N writes, remount
    a copy and check(). Prints and returns {"fs", "writes", "clean", "results": [text per N]}."""
    import vfs

    bs, n = _FS[fs]
    dev = CutDevice(bytes(bs * n), bs)
    (vfs.VfsLfs2 if fs == "lfs2" else vfs.VfsFat).mkfs(dev)
    _call(setup, dev, fs)
    before = bytes(dev.data)
    full = CutDevice(before, bs)
    _call(op, full, fs)
    report = {"fs": fs, "writes": full.writes, "clean": _call(check, CutDevice(full.data, bs), fs)}
    results = []
    for limit in range(full.writes + 1):
        cut = CutDevice(before, bs, limit)
        _call(op, cut, fs)
        results.append(_call(check, CutDevice(cut.data, bs), fs))
    report["results"] = results
    print("POWERCUT " + json.dumps(report))
    return report


def run_script(script, *args, timeout=120):
    """(CPython) Run a MicroPython sweep script; returns its reports (list of dicts)."""
    import mpy

    r = mpy.run([script] + list(args), extra_path=[os.path.dirname(os.path.abspath(__file__))], timeout=timeout)
    if r.returncode:
        raise RuntimeError("%s failed:\n%s%s" % (script, r.stdout, r.stderr))
    return [json.loads(ln[9:]) for ln in r.stdout.splitlines() if ln.startswith("POWERCUT ")]
