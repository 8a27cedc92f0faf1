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


def test_package_imports_from_mpy_only(tmp_path):
    mpy.compile_firmware(tmp_path)
    pkg = tmp_path / "mailer"
    mods = sorted(os.path.basename(p)[:-4] for p in glob.glob(str(pkg / "*.mpy")) if "__init__" not in p)
    code = "import sys; sys.path[:] = [%r, '.frozen']\n" % str(tmp_path)
    code += "".join("import mailer.%s\n" % m for m in mods) + "print('ok')"
    r = mpy.run(["-c", code], extra_path=())
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_mpy_embeds_no_host_path(tmp_path):
    # mpbuild compiles with -s <the file's path on the board>: tracebacks name
    # /lib/mailer/x.mpy, the import interns that one name (not a second one), and no .mpy
    # carries the builder's folders.
    from tools import mpbuild

    made = mpbuild.compile_files(tmp_path, mpbuild.board_files(probe=True))
    assert len(made) == len(glob.glob(os.path.join(mpy.FIRMWARE, "mailer", "*.py"))) + 1
    for p in made:
        data = open(p, "rb").read()
        assert mpy.ROOT.encode() not in data and b"/tmp" not in data, p
    assert b"/lib/mailer/codec.mpy" in open(os.path.join(tmp_path, "mailer", "codec.mpy"), "rb").read()
    assert b"main.py" in open(os.path.join(tmp_path, "main.mpy"), "rb").read()


def test_the_import_path_and_the_source_name_are_one_name(tmp_path):
    # Laid out as on a board (the bench's heap figures run so: bench/memory.py), a module's
    # __file__ (its source name) is the very path it was imported from: one interned name.
    mpy.compile_firmware(tmp_path / "lib", modules=["compat", "errors", "codec"], lib="lib/")
    code = "import os, sys\nos.chdir(%r)\nsys.path[:] = ['lib']\n" % str(tmp_path)
    code += "import mailer.codec\nprint(mailer.codec.__file__)"
    r = mpy.run(["-c", code], extra_path=())
    assert r.returncode == 0 and r.stdout.strip() == "lib/mailer/codec.mpy", r.stderr


class FakeBoardFs:
    # What mpremote's mip asks of a board's transport, over a dict of written files.
    def __init__(self):
        self.files, self.dirs = {}, set()

    def fs_exists(self, p):
        return p in self.dirs or p in self.files

    def fs_mkdir(self, p):
        self.dirs.add(p)

    def fs_writefile(self, p, data, progress_callback=None):
        self.files[p] = data


def test_dist_installs_with_mpremote_mip_from_a_local_folder(tmp_path):
    # mpremote's own mip code, pointed at the dist's package.json in a host folder, writes
    # every .mpy a board needs into /lib, byte for byte what make dist wrote; nothing else.
    from mpremote import mip

    from tools import dist, mpbuild

    out = dist.build(str(tmp_path))
    v = "%d.%d" % mpbuild.mpy_version()
    assert os.path.basename(out) == "mailer-%s-mpy%s" % (dist.VERSION, v)
    board = FakeBoardFs()
    mip._install_package(board, os.path.join(out, "package.json"), "unused-index", "/lib", None, True)
    want = {"/lib/" + name[:-3] + ".mpy" for _, name in mpbuild.board_files() if name != "main.py"}
    assert set(board.files) == want
    for path, data in board.files.items():
        assert data[:1] == b"M" and data == open(os.path.join(out, path[5:]), "rb").read()
    assert "/lib/mailer/probe.mpy" not in board.files
    with open(os.path.join(out, "main.py")) as f, open(os.path.join(mpy.FIRMWARE, "main.py")) as g:
        assert f.read() == g.read()
