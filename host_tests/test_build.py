# Every firmware file compiles with mpy-cross (the .mpy a board loads), and the firmware
# imports on the Unix port from those .mpy files alone.
import glob
import os
import subprocess

import mpy
import pytest

FILES = sorted(glob.glob(os.path.join(mpy.FIRMWARE, "**", "*.py"), recursive=True))
MPY_CROSS = mpy.mpy_cross_path()


@pytest.mark.parametrize("path", FILES, ids=lambda p: os.path.relpath(p, mpy.FIRMWARE))
def test_compiles_with_mpy_cross(path, tmp_path):
    out = tmp_path / "x.mpy"
    r = subprocess.run([MPY_CROSS, "-o", str(out), path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:1] == b"M"


@pytest.mark.unixport
def test_package_imports_from_mpy_only(tmp_path):
    mpy.compile_firmware(tmp_path)
    pkg = tmp_path / "mailer"
    mods = sorted(os.path.basename(p)[:-4] for p in glob.glob(str(pkg / "*.mpy")) if "__init__" not in p)
    code = "import sys; sys.path[:] = [%r, '.frozen']\n" % str(tmp_path)
    code += "".join("import mailer.%s\n" % m for m in mods) + "print('ok')"
    r = mpy.run(["-c", code], extra_path=())
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
