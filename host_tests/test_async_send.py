# The awaitable send (mailer.aclient) against the aiosmtpd dev server (STARTTLS required, AUTH),
# on CPython and on the Unix port: the message arrives whole, the other tasks ran during the
# send, the board's loop on asyncio drains the outbox as a task with the status animated, and
# the driver answers the dialogue's token requests (the awaitable variant first).
import asyncio
import json
import os
import random

import mpsend
import mpy
import pytest
from conftest import SMTP_PASSWORD, SMTP_USER
from fakeconn import FakeConn

from mailer import aclient, session, settings
from mailer.attach import Attachment
from mailer.message import Message

TO = "ops@example.com"
KIB = 1024


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    p = tmp_path_factory.mktemp("att") / "big.bin"
    p.write_bytes(random.Random(17).randbytes(KIB * KIB))
    return str(p)


def cfg_for(tmp_path, port, certs, **smtp):
    base = {"host": "localhost", "port": port, "ca_file": certs["ca_der"], "timeout_s": 5}
    base.update(auth="log_on_using", user=SMTP_USER, password=SMTP_PASSWORD, **smtp)
    raw = {"version": 1, "smtp": base, "mail": {"from": SMTP_USER, "to": [TO]}, "board": "unix"}
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(raw))
    return str(path)


def with_ticker(coro):
    # Runs coro beside a 10 ms ticker: (its result, ticks counted while it ran).
    ticks = [0]

    async def ticker():
        while True:
            await asyncio.sleep(0.01)
            ticks[0] += 1

    async def both():
        t = asyncio.create_task(ticker())
        try:
            return await coro
        finally:
            t.cancel()

    return asyncio.run(both()), ticks[0]


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit"])
def test_adeliver_on_cpython(smtpd, tmp_path, big, implicit):
    port = smtpd.implicit_port if implicit else smtpd.port
    cfg = settings.load(cfg_for(tmp_path, port, smtpd.certs, tls="implicit" if implicit else "required"))
    msg = Message(SMTP_USER, [TO], subject="Async", body="Hello.\n", attachments=[Attachment(path=big)])
    log = []
    (res,), ticks = with_ticker(aclient.adeliver(cfg, [msg], log=log.append))
    assert res.ok, res.line()
    (m,) = smtpd.messages
    assert m["rcpt_tos"] == [TO] and m["tls_version"] and m["user"] == SMTP_USER
    assert res.message_id.encode() in m["content"] and len(m["content"]) > KIB * KIB * 4 // 3
    assert ("C: STARTTLS" in log) != implicit and "C: AUTH CRAM-MD5" in log
    assert SMTP_PASSWORD not in "\n".join(log)
    assert ticks > 5  # the ticker task ran while the megabyte went out


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit"])
def test_adeliver_on_the_unix_port(smtpd, tmp_path, big, implicit):
    port = smtpd.implicit_port if implicit else smtpd.port
    path = cfg_for(tmp_path, port, smtpd.certs, tls="implicit" if implicit else "required")
    r = mpy.run([mpsend.SEND, mpsend.request(path, "asyncio=1", "verbose=1", "to=" + TO, "attach=" + big)], timeout=60)
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and lines[-1].startswith("sent <"), r.stdout + r.stderr
    (m,) = smtpd.messages
    assert m["tls_version"] and m["user"] == SMTP_USER and len(m["content"]) > KIB * KIB * 4 // 3
    assert lines[-1][5:].encode() in m["content"]
    ticks = [int(ln.split()[1]) for ln in lines if ln.startswith("ticks ")]
    assert ticks and ticks[0] > 5, r.stdout
    assert SMTP_PASSWORD not in r.stdout


def test_board_on_asyncio_drains_the_outbox_as_a_task(smtpd, tmp_path, big):
    # The board definition asks for asyncio; main.py's app.run(task) stays as it is.
    cfg_for(tmp_path, smtpd.port, smtpd.certs)
    (tmp_path / "board.json").write_text(json.dumps({"name": "Async board", "console": True, "asyncio": True}))
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp_async_board.py")
    r = mpy.run([script, big], cwd=str(tmp_path), timeout=60)
    out = r.stdout.splitlines()
    assert r.returncode == 0 and out[-1].startswith("sent <"), r.stdout + r.stderr
    ticks = int([ln for ln in out if ln.startswith("ticks ")][0].split()[1])
    frames = int([ln for ln in out if ln.startswith("spinner ")][0].split()[1])
    assert ticks > 5 and frames > 1, r.stdout  # the user's ticker ran, the spinner turned
    (m,) = smtpd.messages
    assert b"Subject: Async board" in m["content"] and out[-1][5:].encode() in m["content"]
    assert len(m["content"]) > 4 * KIB * KIB * 4 // 3
    assert os.listdir(tmp_path / "outbox") == ["failed"]  # delivered, so removed from flash


class _Tokens:
    # oauth2.TokenSource's two doors: the asyncio driver must take the awaitable one.
    def __init__(self):
        self.asked = []

    def token(self, force=False):
        self.asked.append(("token", force))
        return b"blocking"

    async def atoken(self, force=False):
        self.asked.append(("atoken", force))
        return b"awaited"


class _AConn(FakeConn):
    # FakeConn with awaitable read and write, as aconn.AConn has them.
    async def read(self, n=512):
        return FakeConn.read(self, n)

    async def write(self, data):
        FakeConn.write(self, data)


def _stand_in(s):
    # A step as the session writes them: tokens asked for, a failure thrown back at its yield.
    got = [(yield session._TOKEN), (yield session._FRESH)]
    yield b"HELLO\r\n"
    got.append((yield session._READ))
    try:
        yield session._READ  # the script has a time-out here
    except Exception as e:
        got.append(type(e).__name__ + ": " + str(e))
    yield session._CLOSE
    return got


def test_arun_answers_every_request():
    s = session.Session(_AConn([b"250 ok\r\n", None]), b"board.test", tokens=_Tokens())
    got = asyncio.run(aclient.arun(s, _stand_in(s), s.conn))
    tok = b"awaited"
    assert got == [tok, tok, b"250 ok\r\n", "MailError: #801 Error communicating with the SMTP server (read timed out)"]
    assert s.tokens.asked == [("atoken", False), ("atoken", True)]
    assert bytes(s.conn.written) == b"HELLO\r\n" and s.conn.closed


def test_board_asyncio_key_is_checked():
    from mailer import board
    from mailer.errors import MailError

    assert board.load_board({"name": "a", "console": True, "asyncio": True})["asyncio"] is True
    with pytest.raises(MailError) as e:
        board.load_board({"name": "a", "asyncio": "yes"})
    assert e.value.line() == "#861 Settings invalid (board a: 'asyncio' must be a bool)"
