# A 1 MiB attachment from flash arrives intact through STARTTLS + AUTH, and the whole send
# (TLS, session, message) needs less than 4 KiB more GC heap for it than for a 1 KiB one.
# The firmware runs from .mpy files, as on a board.
import email
import email.policy
import os
import random

import sys

import mpsend as ms
from mailer import settings
import mpy
from tools.simboard import SIM_PATH
import pytest
from conftest import SMTP_PASSWORD, SMTP_USER

sys.path.insert(0, os.path.join(mpy.ROOT, "bench"))
import memory  # noqa: E402


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return mpy.compile_firmware(tmp_path_factory.mktemp("lib"), scripts=[os.path.join(mpy.ROOT, "tools", "mp_send.py")])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("att")
    rnd = random.Random(11)
    out = {}
    for label, n in (("1KiB", 1024), ("1MiB", 1 << 20)):
        p = d / (label + ".bin")
        p.write_bytes(rnd.randbytes(n))
        out[label] = p
    return out


def send(lib, tmp_path, server, attach, heap=None):
    cfg = {
        "incoming": {"host": "h", "user": SMTP_USER, "password": SMTP_PASSWORD},
        "smtp": {"host": "localhost", "port": server.port, "ca_file": server.certs["ca_der"], "timeout_s": 10},
        "mail": {"from": SMTP_USER, "to": ["ops@example.com"]},
    }
    path = tmp_path / "settings.json"
    # Stamped, as a deployed board has it: the send is measured, not the first boot's check of
    # a new file (the schema), whose need moves by more than the send's between two runs.
    settings.save(cfg, str(path))
    args = ["mp_send", ms.request(str(path), "attach=" + str(attach))]
    code = "import sys\nsys.path[:] = [%r, %r, '.frozen']\nsys.argv[:] = %r\nimport mp_send\n" % (lib, SIM_PATH, args)
    return mpy.run(["-c", code], heapsize=heap, timeout=120)


def test_1mib_attachment_arrives_intact(lib, files, smtpd, tmp_path):
    r = send(lib, tmp_path, smtpd, files["1MiB"])
    assert r.returncode == 0, r.stdout + r.stderr
    msg = email.message_from_bytes(smtpd.messages[0]["content"], policy=email.policy.default)
    (part,) = list(msg.iter_attachments())
    assert part.get_filename() == "1MiB.bin"
    assert part.get_content_type() == "application/octet-stream"
    assert part.get_payload(decode=True) == files["1MiB"].read_bytes()


def test_heap_for_1mib_within_6kib_of_1kib(lib, files, smtpd, tmp_path):
    # Smallest heaps as bench/memory.py defines them (every size from there up to 4 KiB more
    # works: the edge is not monotonic), so that one lucky or unlucky size decides nothing.
    def works(label):
        return lambda heap: send(lib, tmp_path, smtpd, files[label], heap).returncode == 0

    assert not works("1KiB")(16 * 1024)  # the search starts below the need
    small = memory.smallest_heap(works("1KiB"), lo=16 * 1024)
    assert small is not None
    n = len(smtpd.messages)
    big = memory.smallest_heap(works("1MiB"), lo=small - 4096)
    print("smallest heap, 1 KiB attachment: %d bytes; 1 MiB: %s" % (small, big))
    # Between two runs of the same code the 1 KiB figure itself has moved by 4.5 KiB here
    # (96000 and 100608 bytes: the server's replies arrive in different pieces), so 6 KiB
    # of slack; a file buffered whole, or anything growing with its size, is far beyond it.
    # The 32-bit gate (test_memory32) holds both sizes to one budget.
    assert big is not None and big - small < 6144
    assert len(smtpd.messages) > n  # the 1 MiB sends arrived
