# `make dist`: dist/mailer-<version>-mpy<N>/ (N: the .mpy version this mpy-cross writes, e.g.
# 6.3) with the board's .mpy files (tools/mpbuild.board_files, compiled with -s), main.py, and a
# package.json whose relative "urls" name them, so that
#     mpremote mip install dist/mailer-0.1.0-mpy6.3/package.json     (a folder on the host)
#     mpremote mip install https://<host>/<path>/package.json        (the folder published)
# puts in /lib/mailer the same .mpy files `make deploy` does, with nothing compiled on the board
# (mpremote's mip resolves a relative url against the package.json's own folder or URL).
# main.py is not in the package (mip installs into /lib): copy it with `mpremote cp main.py :`.
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tools import mpbuild  # noqa: E402

VERSION = "0.1.0"


def build(out_root=None, probe=False):
    """Write the dist folder (replacing an old one); returns its path."""
    major, minor = mpbuild.mpy_version()
    out = os.path.join(out_root or os.path.join(ROOT, "dist"), "mailer-%s-mpy%d.%d" % (VERSION, major, minor))
    shutil.rmtree(out, ignore_errors=True)
    files = mpbuild.board_files(probe)
    lib = [f for f in files if f[1] != "main.py"]
    made = mpbuild.compile_files(out, lib)
    shutil.copy(os.path.join(mpbuild.FIRMWARE, "main.py"), os.path.join(out, "main.py"))
    urls = [[os.path.relpath(p, out)] * 2 for p in made]
    with open(os.path.join(out, "package.json"), "w") as f:
        json.dump({"urls": urls, "version": VERSION}, f, indent=1)
        f.write("\n")
    return out


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description="Write dist/mailer-<version>-mpy<N>/ for mip.")
    ap.add_argument("--out", help="parent folder (default dist/)")
    ap.add_argument("--probe", action="store_true", help="include mailer.probe (3 KiB)")
    a = ap.parse_args(argv)
    out = build(a.out, a.probe)
    print(
        "%s: mpremote mip install %s/package.json, then mpremote cp %s/main.py :"
        % (os.path.relpath(out, ROOT), out, out)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
