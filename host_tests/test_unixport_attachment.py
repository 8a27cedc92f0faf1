# A 1 MiB attachment from flash arrives intact through STARTTLS + AUTH, and the whole send
# (TLS, session, message) needs less than 4 KiB more GC heap for it than for a 1 KiB one.
# The firmware runs from .mpy files, as on a board.
import email
import email.policy
import json
import os
import random

import mpy
import pytest
from conftest import SMTP_PASSWORD, SMTP_USER

STEP = 512  # bisection resolution, bytes of heap


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
    path.write_text(json.dumps(cfg))
    args = ["mp_send", "settings=" + str(path), "boards=" + os.path.join(mpy.ROOT, "boards"), "attach=" + str(attach)]
    code = "import sys\nsys.path[:] = [%r, '.frozen']\nsys.argv[:] = %r\nimport mp_send\n" % (lib, args)
    return mpy.run(["-c", code], heapsize=heap, timeout=120)


def test_1mib_attachment_arrives_intact(lib, files, smtpd, tmp_path):
    r = send(lib, tmp_path, smtpd, files["1MiB"])
    assert r.returncode == 0, r.stdout + r.stderr
    msg = email.message_from_bytes(smtpd.messages[0]["content"], policy=email.policy.default)
    (part,) = list(msg.iter_attachments())
    assert part.get_filename() == "1MiB.bin"
    assert part.get_content_type() == "application/octet-stream"
    assert part.get_payload(decode=True) == files["1MiB"].read_bytes()


def test_heap_for_1mib_within_4kib_of_1kib(lib, files, smtpd, tmp_path):
    lo, hi = 16 * 1024, 256 * 1024
    assert send(lib, tmp_path, smtpd, files["1KiB"], hi).returncode == 0
    assert send(lib, tmp_path, smtpd, files["1KiB"], lo).returncode != 0
    while hi - lo > STEP:
        mid = (lo + hi) // 2 // STEP * STEP
        if send(lib, tmp_path, smtpd, files["1KiB"], mid).returncode == 0:
            hi = mid
        else:
            lo = mid
    print("smallest heap for a send with a 1 KiB attachment: %d bytes" % hi)
    n = len(smtpd.messages)
    r = send(lib, tmp_path, smtpd, files["1MiB"], hi + 4096 - STEP)
    assert r.returncode == 0, "1 MiB send failed with heap %d: %s" % (hi + 4096 - STEP, r.stdout + r.stderr)
    assert len(smtpd.messages) == n + 1
