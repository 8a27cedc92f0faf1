# The policy layer (mailer.app, mailer.netup) on CPython, with a folder as the board's flash,
# the simulated board's stand-in `network` and `ntptime` modules, a console-only board and the
# aiosmtpd dev server: the main loop survives an exception inside a send (#869, traceback in a
# bounded log), bad settings show #861, Wi-Fi down queues (#860) and the loop delivers later,
# the button sends a test message.
import importlib.util
import json
import os

import pytest
from conftest import SMTP_PASSWORD, SMTP_USER

from mailer import app as appmod
from mailer import board, client, netup
from mailer.codes import CLOCK, INTERNAL, NETWORK, SETTINGS
from mailer.errors import MailError

from tools.simboard import SIM_PATH


class Stop(BaseException):
    pass


def fake(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(SIM_PATH, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def net(monkeypatch):
    network, ntptime = fake("network"), fake("ntptime")
    monkeypatch.setitem(__import__("sys").modules, "network", network)
    monkeypatch.setitem(__import__("sys").modules, "ntptime", ntptime)
    monkeypatch.setattr(appmod, "sleep_ms", lambda ms: None)
    monkeypatch.setattr(netup, "sleep_ms", lambda ms: None)
    return network, ntptime


class Clock:
    def __init__(self):
        self.t = 1_000_000

    def __call__(self):
        return self.t


def make_app(tmp_path, server_port, certs, **extra):
    (tmp_path / "board.json").write_text(json.dumps({"name": "Test board", "console": True}))
    cfg = {
        "version": 1,
        "incoming": {"user": SMTP_USER, "password": SMTP_PASSWORD},
        "smtp": {"host": "localhost", "port": server_port, "ca_file": certs["ca_der"], "timeout_s": 3},
        "mail": {"from": SMTP_USER, "to": ["ops@example.com"]},
        "wifi": {"ssid": "lab", "password": "wifi-Secret"},
    }
    cfg.update(extra)
    (tmp_path / "settings.json").write_text(json.dumps(cfg))
    lines = []
    a = appmod.App(str(tmp_path) + "/", out=lines.append, clock=Clock())
    return a, lines


def turns(a, n, task=None):
    # Run the real loop for n turns: the task ends it with a BaseException, which the loop
    # (rightly) does not catch.
    count = [0]

    def step():
        count[0] += 1
        if task:
            task(count[0])
        if count[0] >= n:
            raise Stop()

    with pytest.raises(Stop):
        a.run(step)


def test_an_exception_inside_a_send_shows_869_and_the_loop_goes_on(net, smtpd, tmp_path, monkeypatch):
    a, lines = make_app(tmp_path, smtpd.port, smtpd.certs)
    a.boot()
    a.clock_ok = True
    calls = []
    real = client.Client.deliver

    def flaky(self, msgs, log=None):
        calls.append(len(msgs))
        if len(calls) == 1:
            raise RuntimeError("boom inside the send")
        return real(self, msgs, log)

    monkeypatch.setattr(client.Client, "deliver", flaky)
    with pytest.raises(RuntimeError):
        a.send("First", "raises inside")  # user code calling send() sees the exception
    assert a.outbox.names() == ["00000001"]  # ... but the message was accepted first
    turns(a, 3)  # run() boots again: the same flash, the message still queued
    assert calls == [1, 1]
    assert len(smtpd.messages) == 1 and b"Subject: First\r\n" in smtpd.messages[0]["content"]
    assert any(ln.startswith("sent <") for ln in lines)
    assert a.outbox.names() == []


def test_the_loop_survives_an_exception_in_a_turn_and_logs_it(net, smtpd, tmp_path):
    a, lines = make_app(tmp_path, smtpd.port, smtpd.certs)

    def task(n):
        if n == 1:
            raise ValueError("user code went wrong")

    turns(a, 3, task)
    assert "#869 Internal error: ValueError('user code went wrong')" in lines
    log = (tmp_path / "log.txt").read_text()
    assert "Traceback" in log and "user code went wrong" in log and "in task" in log


def test_the_log_on_flash_is_bounded(net, smtpd, tmp_path):
    a, _ = make_app(tmp_path, smtpd.port, smtpd.certs)
    a.boot()
    for i in range(200):
        a.crashed(RuntimeError("failure number %d" % i))
    size = os.path.getsize(tmp_path / "log.txt")
    assert size <= appmod.LOG_MAX + 200
    assert os.path.getsize(tmp_path / "log.old") <= appmod.LOG_MAX + 200
    assert "failure number 199" in (tmp_path / "log.txt").read_text()


def test_bad_settings_show_861_and_send_refuses(net, smtpd, tmp_path):
    a, lines = make_app(tmp_path, smtpd.port, smtpd.certs, colour="blue")
    turns(a, 2)
    assert lines[0] == "#861 Settings invalid: colour: unknown key"
    with pytest.raises(MailError) as e:
        a.send("x")
    assert e.value.code == SETTINGS
    assert not (tmp_path / "outbox").exists()


def test_wifi_down_queues_and_the_loop_delivers_when_it_is_back(net, smtpd, tmp_path, monkeypatch):
    network, _ = net
    real = netup.wifi_up
    monkeypatch.setattr(netup, "wifi_up", lambda wifi: real(wifi, wait_ms=1))
    a, lines = make_app(tmp_path, smtpd.port, smtpd.certs)
    a.boot()
    a.online()
    network.WLAN.up = False
    try:
        r = a.send("While offline", "queued")
    finally:
        network.WLAN.up = True
    assert r.error.code == NETWORK and r.error.retry
    assert lines[-1].startswith("#860 Network not connected: Wi-Fi lab: not connected (status 0) at 20")
    assert not any("wifi-Secret" in ln for ln in lines)
    assert a.outbox.names() == ["00000001"] and smtpd.messages == []
    a.poll()  # not yet: the network is retried after NET_RETRY_S
    assert smtpd.messages == []
    a.clock.t += appmod.NET_RETRY_S
    a.poll()
    assert len(smtpd.messages) == 1 and a.outbox.names() == []


def test_the_button_sends_a_test_message_once_per_press(net, smtpd, tmp_path):
    a, _ = make_app(tmp_path, smtpd.port, smtpd.certs)
    a.boot()

    class Pin:
        level = 1

        def value(self):
            return self.level

    pin = Pin()
    a.button = board.Button(pin, active_low=True)
    a.poll()
    pin.level = 0  # pressed
    a.poll()
    a.poll()  # still held: no second message
    pin.level = 1
    a.poll()
    assert len(smtpd.messages) == 1
    assert b"Subject: Test from Test board\r\n" in smtpd.messages[0]["content"]


def test_wifi_up_retries_then_860(net):
    network, _ = net
    network.WLAN.up = False
    tried = []
    network.WLAN.connect = lambda self, ssid, key: tried.append((ssid, key))
    try:
        with pytest.raises(MailError) as e:
            netup.wifi_up({"ssid": "home", "password": "pw"}, wait_ms=1, tries=3)
    finally:
        network.WLAN.up = True
    assert e.value.code == NETWORK and e.value.retry and "status 0" in e.value.detail
    assert tried == [("home", "pw")] * 3
    assert "pw" not in e.value.line()
    assert netup.wifi_up({"ssid": "", "password": ""}) == "127.0.0.1"  # connected already


def test_clock_that_cannot_be_set_is_843(net):
    _, ntptime = net
    calls = []

    def settime():
        calls.append(ntptime.host)
        raise OSError(110, "ETIMEDOUT")

    ntptime.settime = settime
    with pytest.raises(MailError) as e:
        netup.clock_set("ntp.example.com", tries=2)
    assert e.value.code == CLOCK and e.value.retry and "ntp.example.com" in e.value.detail
    assert calls == ["ntp.example.com"] * 2


def test_crashed_shows_internal(net, smtpd, tmp_path):
    a, lines = make_app(tmp_path, smtpd.port, smtpd.certs)
    a.boot()
    a.crashed(KeyError("k"))
    assert lines[-1] == "#869 Internal error: KeyError('k')" and INTERNAL == 869


def test_boot_with_an_empty_outbox_shows_no_busy(net, smtpd, tmp_path):
    # The loop's first turn delivers what is queued; with nothing queued the console shows no
    # lone "sending..." (the Console sink's busy line), and no session is opened.
    a, lines = make_app(tmp_path, smtpd.port, smtpd.certs)
    turns(a, 2)
    assert not any("sending" in ln for ln in lines), lines
    assert smtpd.messages == []
    a.send("Queued", "now there is one")
    assert any("sending" in ln for ln in lines)
