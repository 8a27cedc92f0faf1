# The message layer on the MicroPython Unix port: chunks() of a message with a 1 KiB and with a
# 1 MiB attachment need the same heap (RAM does not grow with the attachment), and the bytes
# are the same as CPython's. The firmware runs from .mpy files, as on a board.
import os
import random
import sys

import mpy
import pytest

sys.path.insert(0, os.path.join(mpy.ROOT, "bench"))
import memory  # noqa: E402
from mp_message_hash import build, digest


HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = [
    "__init__",
    "compat",
    "errors",
    "mime",
    "message",
    "qp",
    "attach",
    "outbox",
    "client",
    "flashfile",
]  # outbox: to_dict/from_dict (more=True)


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return mpy.compile_firmware(tmp_path_factory.mktemp("lib"), MODULES, [os.path.join(HERE, "mp_message_hash.py")])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("att")
    rnd = random.Random(7)
    paths = {}
    for label, n in (("1KiB", 1024), ("1MiB", 1 << 20)):
        p = d / (label + ".bin")
        p.write_bytes(rnd.randbytes(n))
        paths[label] = str(p)
    return paths


def run(lib, path, heap=None, more=False):
    code = "import sys\nsys.path[:] = [%r]\nimport mp_message_hash as m\nm.main(%r, %r)" % (lib, path, more)
    return mpy.run(["-c", code], heapsize=heap)


def smallest_heap(lib, path, want):
    # The smallest heap from which every size up to 4 KiB more streams the whole message, the
    # right bytes each time (bench/memory.py: near the edge the need is not monotonic).
    def works(heap):
        r = run(lib, path, heap)
        if r.returncode == 0:
            assert r.stdout.strip() == want  # the bytes, not only the exit status
            return True
        assert "MemoryError" in r.stdout + r.stderr, r.stdout + r.stderr
        return False

    assert works(256 * 1024) and not works(8 * 1024)
    return memory.smallest_heap(works, lo=8 * 1024, hi=256 * 1024)


def test_heap_does_not_grow_with_attachment_size(lib, files):
    heaps = {label: smallest_heap(lib, path, digest(build(path))) for label, path in files.items()}
    print("smallest heap (Unix port, 64-bit, .mpy): %s" % heaps)
    assert abs(heaps["1MiB"] - heaps["1KiB"]) < 4096, heaps


@pytest.mark.parametrize("label", ["1KiB", "1MiB"])
def test_same_bytes_as_cpython(lib, files, label):
    path = files[label]
    msg = build(path)
    want = [digest(msg), digest(msg, eightbit=True), digest(msg)]
    r = run(lib, path, more=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == want
    size = int(want[0].split()[0])
    assert size > os.path.getsize(path) * 4 // 3  # the attachment really is in there


# On MicroPython, iterating a str, indexing one, or chr() interns each character yielded as a
# qstr, on the heap for good: a board that tested text that way would grow its qstr table with
# every new character its messages hold. After one warm-up message (names, the first pool), the
# count must not move however new the text is: subject, display names, addresses, a non-ASCII
# file name, the MIME type, a Message-ID.
QSTR_TEXT = r"""
import micropython
from mailer.message import Message
from mailer.attach import Attachment

def make(chars, asc):
    # chars in the subject, body, a display name and a file name; asc (ASCII) in the fields
    # that take only that: the addresses, the MIME type and the Message-ID
    words = " ".join(chars[i : i + 5] for i in range(0, len(chars), 5))
    a = Attachment(data=b"x", name="f%s\u00e9.%s" % (chars[:8], chars[-3:]), mime_type="text/" + asc[:6])
    m = Message("Dev %s <dev@%s.example>" % (chars[:6], asc[:6]), ["x%s@example.com" % asc[:9]],
                subject=words, body=words, attachments=[a], date=(2026, 12, 3, 10, 0, 0),
                message_id="<%s@%s.example>" % (asc, asc[:6]))
    for _ in m.chunks():
        pass

make("abcdefghi\u00e9", "abcdefghij")  # a quoted-printable body: mailer.qp's names too
micropython.qstr_info()  # "qstr pool: n_pool=1, n_qstr=..., ..."
make("KLMNOPQRSTUVWXYZklmnopqrstuvwxyz0123456789", "KLMNOPQRSTUVWXYZklmnopqrstuvwxyz0123456789")
make("\u00e4\u00f6\u00fc\u00df\u20ac-_.~", "KLMNOP")
micropython.qstr_info()
"""


def test_message_text_interns_no_qstrs(tmp_path):
    lib = mpy.compile_firmware(tmp_path / "lib", ["__init__", "compat", "errors", "mime", "message", "qp", "attach"])
    r = mpy.run(["-c", "import sys\nsys.path[:] = [%r]\n" % lib + QSTR_TEXT])
    assert r.returncode == 0, r.stderr
    before, after = [int(x.split(",")[0]) for x in r.stdout.split("n_qstr=")[1:]]
    assert after == before, r.stdout
