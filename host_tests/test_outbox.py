# The outbox (mailer.outbox) on CPython, with a folder as its flash: queued while the server
# is down, delivered once when it is back (after a "reboot": a new Outbox on the same files),
# capped exponential backoff with jitter, 5xx moved aside with code and reply, #865 when full,
# and what a power cut leaves behind cleaned up at boot.
import json
import os

import pytest
from faultserver import free_port
from conftest import SMTP_PASSWORD, SMTP_USER

from mailer import client, settings
from mailer.client import Result
from mailer.codes import COMM, OUTBOX_FULL, SETTINGS
from mailer.errors import MailError
from mailer.attach import Attachment
from mailer.message import Message
from mailer.outbox import BATCH, Outbox

LIMITS = {"max_messages": 5, "max_bytes": 4096, "retry_base_s": 30, "retry_max_s": 300}


class Clock:
    def __init__(self, t=1_000_000):
        self.t = t

    def __call__(self):
        return self.t


def msg(subject="Report", body="all well\n", **kw):
    return Message("Board <board@example.com>", ["ops@example.com"], subject, body, date=(2026, 11, 29, 10, 0, 0), **kw)


def temp_fail(msgs):
    return [Result(m.message_id, error=MailError(COMM, reply="451 4.3.0 try later")) for m in msgs]


def perm_fail(msgs):
    return [Result(m.message_id, error=MailError(COMM, reply="550 5.1.1 no such user")) for m in msgs]


class Recorder:
    def __init__(self):
        self.sent = []

    def __call__(self, msgs):
        self.sent += [m.message_id for m in msgs]
        return [Result(m.message_id, reply="250 ok") for m in msgs]


def test_server_down_queued_then_delivered_once_after_a_reboot(smtpd_factory, certs, tmp_path):
    port = free_port()
    cfg = settings.check(
        {
            "version": 1,
            "incoming": {"user": SMTP_USER, "password": SMTP_PASSWORD},
            "smtp": {"host": "localhost", "port": port, "ca_file": certs["ca_der"], "timeout_s": 3},
            "mail": {"from": SMTP_USER},
            "outbox": LIMITS,
        }
    )
    clock = Clock()
    root = str(tmp_path / "outbox")
    ob = Outbox(root, cfg["outbox"], clock)
    m = msg()
    name = ob.add(m)
    assert os.path.exists(os.path.join(root, name + ".msg"))  # on flash before anything else
    ((n, r),) = ob.deliver(lambda ms: client.deliver(cfg, ms))
    assert n == name and r.error.code == COMM and r.error.retry
    assert ob.names() == [name]
    st = ob.state(name)
    assert st["attempts"] == 1 and st["code"] == COMM and "refused" in st["detail"]
    assert clock.t + 15 <= st["next"] <= clock.t + 30

    server = smtpd_factory(port=port)
    ob = Outbox(root, cfg["outbox"], clock)  # reboot: a new Outbox on the same flash
    assert ob.deliver(lambda ms: client.deliver(cfg, ms)) == []  # not due yet
    clock.t = st["next"]
    ((n, r),) = ob.deliver(lambda ms: client.deliver(cfg, ms))
    assert r.ok and r.message_id == m.message_id
    assert len(server.messages) == 1
    assert ("Message-ID: " + m.message_id).encode() in server.messages[0]["content"]
    assert os.listdir(root) == ["failed"]
    clock.t += 10_000
    assert ob.deliver(lambda ms: client.deliver(cfg, ms)) == [] and len(server.messages) == 1


def test_a_retry_sends_the_same_bytes(tmp_path):
    # Same Date, Message-ID and boundary: a message whose "250" after "." was lost and that
    # is sent again is recognisably the same message.
    ob = Outbox(str(tmp_path), LIMITS, Clock())
    m = msg(attachments=[Attachment(data=b"x" * 100, name="a.bin")])
    name = ob.add(m)
    again = ob.message(name)
    assert b"".join(again.chunks()) == b"".join(m.chunks())


def test_backoff_is_capped_exponential_with_jitter(tmp_path):
    clock = Clock()
    ob = Outbox(str(tmp_path), LIMITS, clock)
    name = ob.add(msg())
    delays = []
    for k in range(1, 8):
        clock.t = ob.state(name)["next"] if k > 1 else clock.t
        ob.deliver(temp_fail)
        st = ob.state(name)
        assert st["attempts"] == k and st["reply"] == "451 4.3.0 try later"
        d = min(300, 30 * 2 ** (k - 1))
        assert clock.t + d - d // 2 <= st["next"] <= clock.t + d, (k, st["next"] - clock.t)
        delays.append(st["next"] - clock.t)
    assert delays[-1] <= 300 and delays[-2] >= 150  # capped at retry_max_s
    assert ob.names() == [name]  # a temporary failure never drops it
    # Jitter: many boards (here: many messages) do not all pick the same second.
    ob2 = Outbox(str(tmp_path / "many"), dict(LIMITS, max_messages=20, max_bytes=65536), clock)
    for _ in range(20):
        ob2.add(msg())
    while ob2.deliver(temp_fail):
        pass
    assert len({ob2.state(n)["next"] for n in ob2.names()}) > 5


def test_a_5xx_moves_the_message_aside_with_code_and_reply(tmp_path):
    ob = Outbox(str(tmp_path), LIMITS, Clock())
    m = msg()
    name = ob.add(m)
    ((_, r),) = ob.deliver(perm_fail)
    assert not r.ok and not r.error.retry
    assert ob.names() == [] and ob.names(failed=True) == [name]
    st = ob.state(name, failed=True)
    assert (st["code"], st["reply"]) == (COMM, "550 5.1.1 no such user")
    assert ob.message(name, failed=True).message_id == m.message_id
    assert sorted(os.listdir(tmp_path / "failed")) == [name + ".msg", name + ".try"]


def test_failed_keeps_the_last_max_messages(tmp_path):
    ob = Outbox(str(tmp_path), LIMITS, Clock())
    names = [ob.add(msg("m%d" % i)) for i in range(5)]
    ob.deliver(perm_fail)
    names.append(ob.add(msg("m5")))
    ob.deliver(perm_fail)
    assert ob.names(failed=True) == names[1:]


def test_a_full_outbox_refuses_the_new_message_with_865(tmp_path):
    ob = Outbox(str(tmp_path), LIMITS, Clock())
    kept = [ob.add(msg("m%d" % i)) for i in range(5)]
    with pytest.raises(MailError) as e:
        ob.add(msg("one too many"))
    assert e.value.code == OUTBOX_FULL and e.value.retry
    assert ob.names() == kept  # nothing already accepted is dropped
    # By bytes too: 4096 bytes hold a few messages with a 1 KiB body.
    ob = Outbox(str(tmp_path / "b"), LIMITS, Clock())
    n = 0
    with pytest.raises(MailError) as e:
        while True:
            ob.add(msg(body="y" * 1000))
            n += 1
    assert e.value.code == OUTBOX_FULL and "bytes" in e.value.detail
    assert 2 <= n < 5 and len(ob.names()) == n and ob.used()[1] <= 4096
    # Once delivered, there is room again.
    ob.deliver(Recorder())
    ob.add(msg(body="y" * 1000))


def test_a_round_takes_at_most_a_batch_oldest_first_and_the_new_one_first(tmp_path):
    ob = Outbox(str(tmp_path), dict(LIMITS, max_messages=10, max_bytes=65536), Clock())
    names = [ob.add(msg("m%d" % i)) for i in range(BATCH + 2)]
    rec = Recorder()
    assert [n for n, _ in ob.deliver(rec, first=names[-1])] == [names[-1]] + names[: BATCH - 1]
    assert [n for n, _ in ob.deliver(rec)] == names[BATCH - 1 : -1]
    assert len(rec.sent) == len(set(rec.sent)) == BATCH + 2


def test_a_stored_message_that_cannot_be_built_again_is_moved_aside(tmp_path):
    f = tmp_path / "photo.jpg"
    f.write_bytes(b"\xff\xd8" * 10)
    ob = Outbox(str(tmp_path / "ob"), LIMITS, Clock())
    name = ob.add(msg(attachments=[Attachment(path=str(f))]))
    f.unlink()  # the user removed the attachment before it went out
    rec = Recorder()
    ((_, r),) = ob.deliver(rec)
    assert r.error.code == SETTINGS and "attachment not found" in r.error.detail
    assert rec.sent == [] and ob.names(failed=True) == [name]


def test_boot_cleans_up_what_a_power_cut_left(tmp_path):
    root = tmp_path / "ob"
    ob = Outbox(str(root), LIMITS, Clock())
    a, b, c = ob.add(msg("a")), ob.add(msg("b")), ob.add(msg("c"))
    (root / "00000009.msg.tmp").write_text('{"half')  # send() cut before it returned
    (root / "00000007.try").write_text('{"attempts": 1, "next": 0}')  # removal cut halfway
    (root / "failed" / (b + ".try")).write_text(json.dumps({"attempts": 0, "next": 0, "code": 801}))
    (root / "failed" / "00000005.try").write_text("{}")  # old failed one, half removed
    (root / (c + ".try.tmp")).write_text("{")  # state update cut
    ob = Outbox(str(root), LIMITS, Clock())
    assert ob.names() == [a, c]
    assert ob.names(failed=True) == [b]  # the move aside was finished
    assert sorted(os.listdir(root)) == [a + ".msg", c + ".msg", "failed"]
    assert sorted(os.listdir(root / "failed")) == [b + ".msg", b + ".try"]
    assert ob.add(msg("d")) == "00000004"  # numbering goes on after the highest


# -- partial delivery: the deferred recipients, and only they, are retried -------
TWO = ["ops@example.com", "boss@example.com"]


def test_a_partial_delivery_keeps_only_the_deferred_recipients_due(tmp_path):
    ob = Outbox(str(tmp_path / "ob"), LIMITS, Clock())
    name = ob.add(Message("board@example.com", TWO + ["gone@example.com"], "P", "x", date=(2026, 11, 29, 10, 0, 0)))
    seen = []

    def partial(msgs):
        (m,) = msgs
        seen.append(m.recipients())
        return [
            Result(
                m.message_id,
                reply="250 ok",
                refused=[
                    (b"boss@example.com", "451 4.2.0 mailbox busy"),
                    (b"gone@example.com", "550 5.1.1 no such user"),
                ],
            )
        ]

    ((_, r),) = ob.deliver(partial)
    assert not r.ok and r.error.code == COMM and r.error.retry
    assert r.error.reply == "451 4.2.0 mailbox busy" and r.deferred == [(b"boss@example.com", "451 4.2.0 mailbox busy")]
    st = Outbox(str(tmp_path / "ob"), LIMITS, Clock()).state(name)  # after a reboot
    assert st["due"] == ["boss@example.com"] and st["attempts"] == 1
    ob = Outbox(str(tmp_path / "ob"), LIMITS, Clock(10**9))
    m = ob.message(name)
    assert m.recipients() == [b"boss@example.com"]
    rec = Recorder()
    ob.deliver(rec)
    assert rec.sent == [m.message_id] and ob.names() == []
    assert seen == [[b"ops@example.com", b"boss@example.com", b"gone@example.com"]]


def test_a_temporary_failure_after_a_partial_delivery_keeps_the_due_list(tmp_path):
    clock = Clock()
    ob = Outbox(str(tmp_path / "ob"), LIMITS, clock)
    name = ob.add(Message("board@example.com", TWO, "P", "x", date=(2026, 11, 29, 10, 0, 0)))
    ob.deliver(lambda ms: [Result(ms[0].message_id, refused=[(b"ops@example.com", "452 4.3.1 full")])])
    clock.t += 10**6
    ob.deliver(temp_fail)  # the server is down: the next try still goes to ops@ only
    assert ob.state(name)["due"] == ["ops@example.com"] and ob.state(name)["attempts"] == 2
    assert ob.message(name).recipients() == [b"ops@example.com"]


def test_the_retry_to_deferred_recipients_over_smtp_sends_the_same_bytes(tmp_path, certs):
    # Real sessions (client.deliver) against scripted servers: 250 + 451, then only the 451 one.
    import faultcases as fc
    import faultserver as fs
    from faultserver import FaultServer

    def script(rcpts):
        steps = [
            ("send", fs.GREETING),
            ("expect", b"EHLO"),
            ("send", b"250 fault.test\r\n"),
            ("expect", b"MAIL FROM:<board@example.com>"),
        ]
        steps.append(("send", b"250 Ok\r\n"))
        for r, reply in rcpts:
            steps += [("expect", b"RCPT TO:<" + r + b">"), ("send", reply)]
        return steps + [
            ("expect", b"DATA"),
            ("send", b"354 go\r\n"),
            ("data",),
            ("send", fc.OK_FINAL),
            ("expect", b"QUIT"),
        ]

    ob = Outbox(str(tmp_path / "ob"), LIMITS, Clock(10**9))
    name = ob.add(Message("board@example.com", TWO, "P", "x", date=(2026, 11, 29, 10, 0, 0)))
    bodies = []
    for rcpts in (
        [(b"ops@example.com", b"250 Ok\r\n"), (b"boss@example.com", b"451 4.2.0 busy\r\n")],
        [(b"boss@example.com", b"250 Ok\r\n")],
    ):
        with FaultServer(script(rcpts), linger=2) as srv:
            cfg = settings.check(
                {
                    "smtp": {
                        "host": "127.0.0.1",
                        "port": srv.port,
                        "tls": "off",
                        "auth": "none",
                        "verify": "off",
                        "timeout_s": 2,
                    },
                    "mail": {"from": "board@example.com"},
                }
            )
            ((_, r),) = ob.deliver(lambda ms, cfg=cfg: client.deliver(cfg, ms), first=name)
            srv.wait_eof()
            assert srv.errors == [] and len(srv.bodies) == 1
            bodies.append(srv.bodies[0])
    assert ob.names() == [] and ob.names(failed=True) == [] and r.ok
    assert bodies[0] == bodies[1] and b"To: ops@example.com, boss@example.com" in bodies[0]


# -- checksums: a damaged record is never delivered ----------------------------------------
@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b + b"\n{}",  # junk appended after the JSON
        lambda b: b.replace(b"ops@example.com", b"opz@example.com"),  # one flipped character
        lambda b: b[: len(b) // 2],  # torn
        lambda b: b[9:],  # no checksum at all
    ],
)
def test_a_record_that_fails_its_checksum_goes_to_failed(tmp_path, damage):
    root = tmp_path / "ob"
    ob = Outbox(str(root), LIMITS, Clock())
    name = ob.add(msg())
    p = root / (name + ".msg")
    data = p.read_bytes()
    assert data[:9] == b"%08x " % __import__("binascii").crc32(data[9:])
    p.write_bytes(damage(data))
    rec = Recorder()
    ((n, r),) = ob.deliver(rec)
    assert rec.sent == [] and ob.names() == [] and ob.names(failed=True) == [name]
    assert not r.ok and not r.error.retry and r.error.code == 869 and "stored message" in r.error.detail
    assert ob.state(name, failed=True)["detail"] == r.error.detail  # the failed/ record says why


def test_a_damaged_state_record_sends_to_every_recipient_again(tmp_path):
    # A bit flip in "due" must never pick a wrong address: the record is ignored instead.
    root = tmp_path / "ob"
    ob = Outbox(str(root), LIMITS, Clock())
    name = ob.add(Message("board@example.com", TWO, "P", "x", date=(2026, 11, 29, 10, 0, 0)))
    ob.deliver(lambda ms: [Result(ms[0].message_id, refused=[(b"ops@example.com", "452 4.3.1 full")])])
    p = root / (name + ".try")
    p.write_bytes(p.read_bytes().replace(b"ops@", b"opz@"))
    assert ob.state(name) == {"attempts": 0, "next": 0}
    assert ob.message(name).recipients() == [b"ops@example.com", b"boss@example.com"]


def test_an_attachment_that_became_a_folder_is_861_not_retried(tmp_path):
    f = tmp_path / "data.csv"
    f.write_text("a,b\n")
    ob = Outbox(str(tmp_path / "ob"), LIMITS, Clock())
    name = ob.add(msg(attachments=[Attachment(path=str(f))]))
    f.unlink()
    f.mkdir()
    rec = Recorder()
    ((_, r),) = ob.deliver(rec)
    assert (r.error.code, r.error.retry) == (SETTINGS, False) and "attachment is a folder" in r.error.detail
    assert rec.sent == [] and ob.names(failed=True) == [name]
