# The memory budget, held by CI: the 32-bit Unix port (pointers 4 bytes, as on a board) runs the
# firmware from .mpy (compiled with -O3 -s, as `make deploy` does) with a stamped settings file (as a
# deployed board has it), against the dev server, at fixed heap sizes (BUDGET_KIB). A gate at
# fixed sizes, not a search: the smallest working heap is not monotonic near its edge
# (bench/memory.py), so a search could land on a lucky size; a fixed size is a plain pass or fail.
# The budget is the goal for idle (20 KiB, with room to spare) and the goal plus a KiB for the
# sends, whose goals are met at their edge (one message 30 KiB, a 1 MiB attachment 32 KiB: with
# CRAM-MD5, 6 runs at every size, W1 needed 29.5-29.75 KiB and W2 32 from every size up on
# 2026-12-04). At the goal itself the gate would fail now and then: the need moves by a KiB or
# two with any change of code layout, and by up to half a KiB between two runs of the same code
# (what each read brings), and with the length of the paths this test's temporary folder gives
# the CA file and the attachment (under a 45-character folder W2 failed at 32, and passed at 33
# under one of 90). So no change makes them much worse unnoticed; `make bench` prints
# the figures against the goals. Lower the numbers as the code shrinks.
# The dev server here offers CRAM-MD5, which the client prefers: its module is part of W1 here.
import os
import random
import sys

import pytest
from conftest import SMTP_PASSWORD, SMTP_USER

from tools import mpbuild

sys.path.insert(0, os.path.join(mpbuild.ROOT, "bench"))
import memory  # noqa: E402

KIB = 1024
BUDGET_KIB = {"idle": 20, "W1": 31, "W2": 33}
SETTINGS_HELD_MAX = 1900  # bytes
MP32 = mpbuild.mp32_path()
WHY = mpbuild.can_run(MP32)
pytestmark = pytest.mark.skipif(WHY is not None, reason="32-bit Unix port: %s" % WHY)
TO = "ops@example.com"


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return memory.compile_worker(tmp_path_factory.mktemp("lib32"))


@pytest.fixture(scope="module")
def stamped(tmp_path_factory, certs):
    path = str(tmp_path_factory.mktemp("cfg32") / "settings.json")
    return memory.write_settings(path, 587, certs["ca_der"], SMTP_USER, SMTP_PASSWORD, SMTP_USER, TO)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("att32")
    rnd = random.Random(32)
    out = {}
    for label, n in (("1KiB", KIB), ("1MiB", KIB * KIB)):
        p = d / (label + ".bin")
        p.write_bytes(rnd.randbytes(n))
        out[label] = str(p)
    return out


def run(lib, stamped, line, kib):
    return memory.run_once(MP32, lib, stamped, line, kib * KIB, timeout=60)


def test_settings_file_is_stamped(stamped):
    with open(stamped, "rb") as f:
        assert f.read(11) == b'{"stamp": "'


def test_idle_within_budget(lib, stamped):
    ok, out = run(lib, stamped, "W0 0", BUDGET_KIB["idle"])
    assert ok, out


def test_w1_within_budget_and_not_in_8k(lib, stamped, smtpd):
    ok, out = run(lib, stamped, "W1 %d" % smtpd.port, 8)
    assert not ok and not smtpd.messages  # the gate can fail: 8 KiB is too small for a send
    ok, out = run(lib, stamped, "W1 %d" % smtpd.port, BUDGET_KIB["W1"])
    assert ok, out
    (m,) = smtpd.messages
    assert m["mail_from"] == SMTP_USER and m["rcpt_tos"] == [TO]
    assert b"Hello from the bench." in m["content"]


def test_settings_held_within_budget(lib, stamped):
    # What a program holds for its loaded settings, all the time (a second load's, measured in a
    # heap of 64 KiB): 1792 bytes here on 2026-12-04, 2112 before mailer.settings named the keys
    # the send path reads, so that json.loads gives them as those names, not as new strings.
    ok, out = run(lib, stamped, "S0 0", 64)
    assert ok, out
    held = int(out.split()[2])
    assert 1000 < held <= SETTINGS_HELD_MAX, out


@pytest.mark.parametrize("label", ["1KiB", "1MiB"])
def test_w2_within_budget(lib, stamped, smtpd, files, label):
    # The same budget for both sizes: a 1 MiB attachment needs no more heap than a 1 KiB one.
    ok, out = run(lib, stamped, "W2 %d %s" % (smtpd.port, files[label]), BUDGET_KIB["W2"])
    assert ok, out
    (m,) = smtpd.messages
    with open(files[label], "rb") as f:
        size = len(f.read())
    assert len(m["content"]) > size * 4 // 3  # the attachment, base64-encoded, is in it
