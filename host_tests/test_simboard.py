# The simulated board (tools/simboard.py) as a user meets a real one: deployed with
# tools/deploy.py over mpremote, settings written, mail sent from user code (mpremote exec
# calling mailer.app.send) and seen at the dev server; a reset runs main.py, which delivers
# what the outbox kept while the server was down.
import json
import os
import shutil
import subprocess
import sys
import time

import mpy
import pytest
from faultserver import free_port
from conftest import SMTP_PASSWORD, SMTP_USER

from tools import deploy
from tools.simboard import SimBoard

MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")


@pytest.fixture
def board(tmp_path):
    sim = SimBoard(str(tmp_path / "flash.img"), size_kib=512)
    sim.start()
    yield sim
    sim.stop()


def on_board(sim, code):
    r = subprocess.run(
        [MPREMOTE, "connect", sim.path, "resume", "exec", code], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def settings_file(tmp_path, port, certs, **outbox):
    cfg = {
        "version": 1,
        "incoming": {"user": SMTP_USER, "password": SMTP_PASSWORD},
        "smtp": {"host": "localhost", "port": port, "ca_file": "ca.der", "timeout_s": 5},
        "mail": {"from": "Board <%s>" % SMTP_USER, "to": ["ops@example.com"], "subject_prefix": "[sim] "},
        "outbox": dict({"retry_base_s": 1, "retry_max_s": 2}, **outbox),
        "board": "unix",
    }
    d = tmp_path / "cfg"
    d.mkdir(exist_ok=True)
    shutil.copy(certs["ca_der"], d / "ca.der")
    (d / "settings.json").write_text(json.dumps(cfg))
    return str(d / "settings.json")


def wait_for(pred, seconds=20):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_deploy_then_send_from_user_code(board, smtpd, tmp_path):
    path = settings_file(tmp_path, smtpd.port, smtpd.certs)
    n = deploy.deploy(board.path, "unix", path, build=str(tmp_path / "build"))
    assert n == len([f for f in os.listdir(os.path.join(mpy.FIRMWARE, "mailer")) if f.endswith(".py")])
    # The deploy's reset restarted the Unix port, which ran main.py (the loop) from flash.
    assert wait_for(lambda: board.starts == 2)
    ls = on_board(board, "import os; print(sorted(os.listdir()), len(os.listdir('lib/mailer')))")
    assert ls.strip() == "%r %d" % (sorted(["board.json", "ca.der", "lib", "main.py", "outbox", "settings.json"]), n)
    out = on_board(board, "from mailer import app\nr = app.send('Door', 'The door opened.\\n')\nprint(r.line())")
    assert out.strip().splitlines()[-1].startswith("sent <")
    (rec,) = smtpd.messages
    assert rec["tls"] and rec["user"] == SMTP_USER and rec["rcpt_tos"] == ["ops@example.com"]
    assert b"Subject: [sim] Door\r\n" in rec["content"]
    assert out.strip().splitlines()[-1][5:].encode() in rec["content"]  # the same Message-ID
    assert on_board(board, "import os; print(os.listdir('outbox'))").strip() == "['failed']"


def test_queued_while_server_down_then_delivered_by_main_after_reset(board, smtpd_factory, certs, tmp_path):
    port = free_port()
    path = settings_file(tmp_path, port, certs)
    deploy.deploy(board.path, "unix", path, build=str(tmp_path / "build"))
    assert wait_for(lambda: board.starts == 2)
    out = on_board(
        board,
        "from mailer import app\nr = app.send('Queued', 'kept on flash')\n"
        "print(r.error.code, r.error.retry)\nimport os\nprint(sorted(os.listdir('outbox')))",
    )
    lines = out.strip().splitlines()
    assert lines[-2] == "801 True", out
    assert lines[-1] == "['00000001.msg', '00000001.try', 'failed']"
    server = smtpd_factory(port=port)
    subprocess.run(
        [MPREMOTE, "connect", board.path, "resume", "exec", "import sys; sys.exit()"], capture_output=True, timeout=30
    )
    # A new Unix-port process on the same flash: main.py boots and delivers the queued message.
    assert wait_for(lambda: len(server.messages) == 1), "not delivered after the reset"
    time.sleep(0.5)
    assert len(server.messages) == 1
    assert b"Subject: [sim] Queued\r\n" in server.messages[0]["content"]
    assert board.starts == 3
    assert on_board(board, "import os; print(os.listdir('outbox'))").strip() == "['failed']"


def test_deploy_to_a_real_board_installs_ssd1306_only_for_a_display_and_resets(tmp_path, capsys):
    build = str(tmp_path / "build")
    deploy.deploy("/dev/ttyUSB0", "heltec_wifi_kit_32", dry=True, build=build)
    cmds = capsys.readouterr().out.splitlines()
    assert [c.split(" resume ", 1)[1] for c in cmds[1:]] == ["mip install ssd1306", "reset"]
    assert ":lib/mailer/" in cmds[0] and ":board.json" in cmds[0]
    deploy.deploy("/dev/ttyUSB0", "esp32_devkitc", dry=True, build=build)
    cmds = capsys.readouterr().out.splitlines()
    assert [c.split(" resume ", 1)[1] for c in cmds[1:]] == ["reset"]


def test_deploy_puts_the_asyncio_modules_only_on_a_board_that_runs_on_asyncio_or_asks(tmp_path, capsys, monkeypatch):
    def copied(board, **kw):
        deploy.deploy("/dev/ttyUSB0", board, dry=True, build=str(tmp_path / "build"), **kw)
        cmd = capsys.readouterr().out.splitlines()[0]
        return {os.path.basename(w) for w in cmd.split() if w.endswith(".mpy")}

    plain = copied("esp32_devkitc")
    assert "session.mpy" in plain and not plain & {"aapp.mpy", "aclient.mpy", "aconn.mpy"}
    asked = copied("esp32_devkitc", asyncio=True)
    assert asked - plain == {"aapp.mpy", "aclient.mpy", "aconn.mpy"}
    # A board definition that says "asyncio": true gets them without being asked.
    real = deploy.boardmod.load_board
    monkeypatch.setattr(deploy.boardmod, "load_board", lambda *a: dict(real(*a), asyncio=True))
    assert copied("esp32_devkitc") == asked


def test_deploy_refuses_bad_settings_before_touching_the_board(tmp_path, certs):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 1, "smtp": {"host": "h", "port": 0}, "mail": {"from": "a@b.c"}}))
    with pytest.raises(deploy.DeployError, match="smtp.port: must be an integer 1..65535"):
        deploy.deploy("/nonexistent", "unix", str(bad), dry=True)
    cfg = json.loads(open(settings_file(tmp_path, 25, certs)).read())
    cfg["smtp"]["ca_file"] = "/etc/ca.der"  # a host path the board does not have
    bad.write_text(json.dumps(cfg))
    with pytest.raises(deploy.DeployError, match="must be a path on the board"):
        deploy.deploy("/nonexistent", "unix", str(bad), dry=True)
