# Power cuts for real: settings.save() on the Unix port, on a LittleFS2 and a FAT
# filesystem whose block device stops writing after N block writes, for every N from 0 to
# the number of writes one save makes; after each cut a fresh mount must load the old or the
# new settings, never an error or a mix. See powercut_rig.py for the device and the cut model.
import os

import pytest
from powercut_rig import run_script

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp_settings_powercut.py")


def sweep(fs, mode="save"):
    (report,) = run_script(SCRIPT, fs, mode)
    assert report["fs"] == fs
    assert report["clean"] == "new"  # uncut, the save is complete
    assert len(report["results"]) == report["writes"] + 1
    return report


@pytest.mark.parametrize("fs", ["lfs2", "fat"])
def test_save_survives_a_cut_after_every_block_write(fs):
    r = sweep(fs)
    # One save: the temporary file, the old file renamed to the backup, the rename into place.
    assert r["writes"] >= 6
    res = r["results"]
    assert res[0] == "old" and res[-1] == "new"
    assert set(res) <= {"old", "old backup", "new"}, res
    # Once "new" is there it stays (a later write cannot bring "old" back).
    assert res[res.index("new") :] == ["new"] * (len(res) - res.index("new"))
    # Between "settings.json -> .bak" and ".tmp -> settings.json" there is no main file:
    # the backup is what load() reads there, on both filesystems.
    assert "old backup" in res


def test_lfs2_rename_over_the_file_is_atomic_without_backup():
    res = sweep("lfs2", "nobackup")["results"]
    assert set(res) == {"old", "new"}, res


def test_fat_loses_the_file_in_a_rename_over_it_without_backup():
    # What the backup is for on FAT: MicroPython's FAT rename onto an existing name removes
    # that file first, and a cut between the removal and the rename leaves no settings.json.
    # (save() never renames onto an existing file; write_atomic without a backup does.)
    res = sweep("fat", "nobackup")["results"]
    lost = [r for r in res if r.startswith("error:")]
    assert lost and all("unreadable and no good backup" in r and "ENOENT" in r for r in lost), res
    assert set(res) - set(lost) == {"old", "new"}
