# Power cuts for real: the outbox on LittleFS2 (the ESP32 default) on a block device
# that stops writing after N block writes, for every N (powercut_rig.py). After any cut, a
# reboot (fresh mount, new Outbox) finds every message send() had accepted exactly once, in
# the outbox or delivered or moved aside, and none half there (each one loads); a message that
# reached one recipient of two keeps that recipient due, or (cut before its state was written)
# both: a duplicate for the first one at worst, never a loss.
import os

from powercut_rig import run_script

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp_outbox_powercut.py")


def sweep(mode):
    (report,) = run_script(SCRIPT, mode)
    assert report["fs"] == "lfs2"
    assert len(report["results"]) == report["writes"] + 1
    return report


def test_accepting_a_message_is_all_or_nothing():
    r = sweep("add")
    assert r["clean"] == "A=q B=q C=q D=-"
    res = r["results"]
    assert r["writes"] >= 3  # the .tmp file, its data, the rename
    # Before send() returns C may be missing (not accepted yet), never half there or twice;
    # A and B, accepted earlier, are always there.
    assert set(res) == {"A=q B=q C=- D=-", "A=q B=q C=q D=-"}, res
    assert res[0] == "A=q B=q C=- D=-" and res[-1] == "A=q B=q C=q D=-"


def test_a_delivery_round_loses_and_duplicates_nothing():
    r = sweep("deliver")
    assert r["clean"] == "A=- B=q C=f D=q:1"
    res = r["results"]
    assert res[0] == "A=q B=q C=q D=q:2"
    # A: queued until its removal; B (451): always queued; C (550): queued or failed/, once;
    # D: queued, due to both or (its state written) to the deferred one only.
    allowed = {"A=%s B=q C=%s D=q:%s" % (a, c, d) for a in "q-" for c in "qf" for d in "21"}
    assert set(res) <= allowed, sorted(set(res) - allowed)
    # Every step of the round is there: A removed before C moved aside, before D's state.
    assert {"A=- B=q C=q D=q:2", "A=- B=q C=f D=q:2", "A=- B=q C=f D=q:1"} <= set(res)
