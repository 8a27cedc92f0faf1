# Host tests of the SMTP session against the mocked socket layer: exact bytes on the wire.
import base64
import sys

import pytest
from fakeconn import FakeConn, resolved_cfg, send

from mailer import codec, handshake
from mailer.codes import AUTH, COMM, TLS_REQUIRED, TOO_LARGE
from mailer.errors import MailError
from mailer.session import Session

GREETING = b"220 mail.example.com ESMTP ready\r\n"
EHLO_PRE = b"250-mail.example.com hello\r\n250-8BITMIME\r\n250-STARTTLS\r\n250 SIZE 1000000\r\n"
EHLO_POST = (
    b"250-mail.example.com hello again\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n"
    b"250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
)
PLAIN = base64.b64encode(b"\0dev@example.com\0s3cret")  # RFC 4616


def session(script, **kw):
    kw.setdefault("user", b"dev@example.com")
    kw.setdefault("password", b"s3cret")
    kw.setdefault("mechanisms", ("PLAIN", "LOGIN"))
    kw.setdefault("ehlo_name", b"board.local")
    conn = FakeConn(script, tls=kw.pop("conn_tls", False))
    return conn, Session(conn, **kw)


def test_full_transcript_byte_for_byte():
    conn, s = session(
        [
            GREETING,
            EHLO_PRE,
            b"220 2.0.0 Go ahead\r\n",
            EHLO_POST,
            b"235 2.7.0 Authentication successful\r\n",
            b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
            b"250 2.0.0 Ok: queued as 12345\r\n",
        ]
    )
    s.run(s.open())
    reply, refused = send(s, b"dev@example.com", [b"ops@example.com"], [b"Subject: hi\r\n\r\nbody\r\n"], size=24)
    s.run(s.quit())
    assert reply == "250 2.0.0 Ok: queued as 12345"
    assert refused == []
    assert bytes(conn.written) == (
        b"EHLO board.local\r\n"
        b"STARTTLS\r\n"
        b"<TLS>"
        b"EHLO board.local\r\n"
        b"AUTH PLAIN " + PLAIN + b"\r\n"
        b"MAIL FROM:<dev@example.com> SIZE=24\r\n"
        b"RCPT TO:<ops@example.com>\r\n"
        b"DATA\r\n"
        b"Subject: hi\r\n\r\nbody\r\n.\r\n"
        b"QUIT\r\n"
    )
    # PIPELINING: MAIL, RCPT and DATA went out in one write (RFC 2920), the body in one more,
    # and the end-of-data line in the next (not copied onto the body's last piece).
    assert b"MAIL FROM:<dev@example.com> SIZE=24\r\nRCPT TO:<ops@example.com>\r\nDATA\r\n" in conn.writes
    assert conn.writes[-3:] == [b"Subject: hi\r\n\r\nbody\r\n", b".\r\n", b"QUIT\r\n"]
    assert conn.closed


def test_capabilities_before_tls_are_forgotten():
    # Before TLS the server offers AUTH PLAIN; after it only LOGIN: only the latter counts.
    pre = b"250-mx\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n"
    post = b"250-mx\r\n250 AUTH LOGIN\r\n"
    conn, s = session([GREETING, pre, b"220 go\r\n", post, b"334 UGFzc3dvcmQ6\r\n", b"235 ok\r\n"])
    s.run(s.open())
    assert b"STARTTLS" not in s.caps
    assert s.caps[b"AUTH"] == b"LOGIN"
    assert bytes(conn.written).endswith(b"<TLS>EHLO board.local\r\nAUTH LOGIN ZGV2QGV4YW1wbGUuY29t\r\nczNjcmV0\r\n")


def test_no_starttls_with_tls_required_sends_no_auth():
    conn, s = session([GREETING, b"250-mx\r\n250 AUTH PLAIN\r\n"])
    with pytest.raises(MailError) as e:
        s.run(s.open())
    assert e.value.code == TLS_REQUIRED and not e.value.retry
    assert bytes(conn.written) == b"EHLO board.local\r\n"


def test_starttls_refused_with_required():
    conn, s = session([GREETING, EHLO_PRE, b"454 4.7.0 TLS not available\r\n"])
    with pytest.raises(MailError) as e:
        s.run(s.open())
    assert e.value.code == TLS_REQUIRED
    assert e.value.reply == "454 4.7.0 TLS not available"
    assert b"AUTH" not in conn.written


def test_opportunistic_in_clear_never_sends_password():
    conn, s = session([GREETING, b"250-mx\r\n250 AUTH PLAIN\r\n"], tls="opportunistic")
    with pytest.raises(MailError) as e:
        s.run(s.open())
    assert e.value.code == TLS_REQUIRED
    assert bytes(conn.written) == b"EHLO board.local\r\n"


def test_plain_password_allowed_explicitly():
    conn, s = session([GREETING, b"250-mx\r\n250 AUTH PLAIN\r\n", b"235 ok\r\n"], tls="off", allow_plain=True)
    s.run(s.open())
    assert bytes(conn.written) == b"EHLO board.local\r\nAUTH PLAIN " + PLAIN + b"\r\n"


def test_no_mechanism_in_common_is_839_and_sends_no_auth():
    conn, s = session([GREETING, b"250-mx\r\n250 AUTH GSSAPI NTLM\r\n"], tls="off", allow_plain=True)
    with pytest.raises(MailError) as e:
        s.run(s.open())
    assert (e.value.code, e.value.line()) == (AUTH, "#839 SMTP authentication failed (no AUTH mechanism in common)")
    assert bytes(conn.written) == b"EHLO board.local\r\n"


def test_bare_lf_in_a_reply_is_801_naming_crlf():
    conn, s = session([b"220 mx\n"])
    with pytest.raises(MailError) as e:
        s.run(s.open())
    assert e.value.line() == "#801 Error communicating with the SMTP server (bad reply: line not ended by CRLF)"


def test_auth_535_is_839():
    conn, s = session(
        [GREETING, EHLO_PRE, b"220 go\r\n", EHLO_POST, b"535 5.7.8 Authentication credentials invalid\r\n"]
    )
    with pytest.raises(MailError) as e:
        s.run(s.open())
    assert e.value.code == AUTH and not e.value.retry
    assert e.value.line() == "#839 SMTP authentication failed (535 5.7.8 Authentication credentials invalid)"


def test_cram_md5_preferred_when_allowed():
    post = b"250-mx\r\n250 AUTH LOGIN PLAIN CRAM-MD5\r\n"
    challenge = b"PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
    conn, s = session(
        [GREETING, b"250-mx\r\n250 AUTH LOGIN PLAIN CRAM-MD5\r\n", b"334 " + challenge + b"\r\n", b"235 ok\r\n"],
        conn_tls=True,
        tls="implicit",
        user=b"tim",
        password=b"tanstaaftanstaaf",
        mechanisms=("CRAM-MD5", "PLAIN", "LOGIN"),
    )
    del post
    s.run(s.open())
    # RFC 2195's own example.
    assert bytes(conn.written) == (
        b"EHLO board.local\r\nAUTH CRAM-MD5\r\ndGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"
    )


def test_non_base64_challenge_is_clean_error():
    conn, s = session(
        [GREETING, b"250-mx\r\n250 AUTH LOGIN\r\n", b"334 !!!not base64!!!\r\n"], conn_tls=True, tls="implicit"
    )
    with pytest.raises(MailError) as e:
        s.run(s.open())
    assert e.value.code == COMM


def test_without_pipelining_one_command_per_write():
    conn, s = session(
        [GREETING, b"250 mx\r\n", b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n", b"250 queued\r\n"],
        conn_tls=True,
        tls="implicit",
        user=None,
    )
    s.run(s.open())
    send(s, b"a@b.c", [b"d@e.f"], [b"x\r\n"])
    assert conn.writes == [
        b"EHLO board.local\r\n",
        b"MAIL FROM:<a@b.c>\r\n",
        b"RCPT TO:<d@e.f>\r\n",
        b"DATA\r\n",
        b"x\r\n",
        b".\r\n",
    ]


def test_dot_stuffing_and_line_ends_across_chunks():
    conn, s = session(
        [GREETING, b"250 mx\r\n", b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n", b"250 queued\r\n"],
        conn_tls=True,
        tls="implicit",
        user=None,
    )
    s.run(s.open())
    # CRLF text (as mailer.message makes it) cut anywhere, a CRLF and an empty chunk too; a
    # text not ending in a line break gets one before the end of data.
    chunks = [b"a\r\n.", b"\r\n..\r", b"\n.x\r\nb\r", b"", b"\n", b".end"]
    send(s, b"a@b.c", [b"d@e.f"], chunks)
    body = bytes(conn.written).split(b"DATA\r\n", 1)[1]
    assert body == b"a\r\n..\r\n...\r\n..x\r\nb\r\n..end\r\n.\r\n"


def test_helo_fallback():
    conn, s = session([GREETING, b"500 what?\r\n", b"250 hi\r\n"], conn_tls=True, tls="implicit", user=None)
    s.run(s.open())
    assert bytes(conn.written) == b"EHLO board.local\r\nHELO board.local\r\n"
    assert s.caps == {}


def test_multiline_reply_split_across_reads():
    ehlo = b"250-mx\r\n250-PIPE" + b"LINING\r\n250 AUTH PLAIN\r\n"
    script = [GREETING[:5], GREETING[5:], ehlo[:3], ehlo[3:12], ehlo[12:], b"235 ok\r\n"]
    conn, s = session(script, conn_tls=True, tls="implicit")
    s.run(s.open())
    assert set(s.caps) == {b"PIPELINING", b"AUTH"}


def test_overlong_reply_line_is_801_without_waiting_for_end():
    conn, s = session([GREETING, b"250-" + b"x" * 600], conn_tls=True, tls="implicit")
    with pytest.raises(MailError) as e:
        s.run(s.open())
    assert e.value.code == COMM and "too long" in e.value.detail


def test_timeout_is_801_retryable():
    conn, s = session([GREETING, None], conn_tls=True, tls="implicit")
    with pytest.raises(MailError) as e:
        s.run(s.open())
    assert e.value.code == COMM and e.value.retry


def test_size_over_server_limit_refused_before_mail():
    conn, s = session([GREETING, b"250-mx\r\n250 SIZE 100\r\n"], conn_tls=True, tls="implicit", user=None)
    s.run(s.open())
    with pytest.raises(MailError) as e:
        send(s, b"a@b.c", [b"d@e.f"], [b"x"], size=101)
    assert e.value.code == TOO_LARGE
    assert b"MAIL" not in conn.written


def test_partial_recipients_and_all_refused():
    conn, s = session(
        [
            GREETING,
            b"250-mx\r\n250 PIPELINING\r\n",
            b"250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n354 go\r\n",
            b"250 queued\r\n",
            b"250 ok\r\n550 5.1.1 no\r\n550 5.1.1 no\r\n554 no valid recipients\r\n",
        ],
        conn_tls=True,
        tls="implicit",
        user=None,
    )
    s.run(s.open())
    reply, refused = send(s, b"a@b.c", [b"d@e.f", b"x@e.f"], [b"hi\r\n"])
    assert refused == [(b"x@e.f", "550 5.1.1 no such user")]
    with pytest.raises(MailError) as e:
        send(s, b"a@b.c", [b"d@e.f"], [b"hi\r\n"])
    assert e.value.code == COMM and not e.value.retry and e.value.reply == "550 5.1.1 no"
    # The first transaction ended with its end of data: no RSET before the second (RFC 5321
    # 4.1.1.4: the server holds nothing of it).
    assert conn.writes[-1] == b"MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n"


def test_crlf_in_address_refused_before_sending():
    conn, s = session([GREETING, b"250 mx\r\n"], conn_tls=True, tls="implicit", user=None)
    s.run(s.open())
    with pytest.raises(MailError) as e:
        send(s, b"a@b.c\r\nRCPT TO:<evil@x>", [b"d@e.f"], [b"x"])
    assert e.value.code == 861
    assert conn.written == b"EHLO board.local\r\n"


def test_starttls_response_injection_refused():
    conn, s = session([GREETING, EHLO_PRE, b"220 go\r\n250-injected\r\n250 AUTH PLAIN\r\n"])
    with pytest.raises(MailError) as e:
        s.run(s.open())
    assert e.value.code == TLS_REQUIRED and "injected" in e.value.detail
    assert b"<TLS>" not in conn.written


def test_reply_over_4_kib_is_801_even_under_100_lines():
    # 60 lines of 104 octets: under the line-count bound, over the bound on what a reply holds.
    big = b"".join(b"250-" + b"x" * 100 + b"\r\n" for _ in range(60)) + b"250 end\r\n"
    conn, s = session([GREETING, big], conn_tls=True, tls="implicit")
    with pytest.raises(MailError) as e:
        s.run(s.open())
    assert e.value.code == COMM and e.value.detail == "bad reply: reply too long"


# Stay in step (RFC 5321 4.2, RFC 2920 3.1): bytes already read that no command asked for
# stop the session with #801 before the next command, which is never sent.
@pytest.mark.parametrize(
    "script,wire,before",
    [
        # A 250 in the same packet as the greeting: EHLO would take it as its answer.
        ([GREETING + b"250 ok\r\n"], b"", "ehlo"),
        # A stray 235 behind the EHLO after STARTTLS: AUTH would take it as success.
        (
            [GREETING, EHLO_PRE, b"220 go\r\n", EHLO_POST + b"235 2.7.0 ok\r\n"],
            b"EHLO board.local\r\nSTARTTLS\r\n<TLS>EHLO board.local\r\n",
            "auth",
        ),
        # Half a line is unread data too.
        ([GREETING + b"25"], b"", "ehlo"),
    ],
)
def test_reply_not_asked_for_is_801_and_nothing_more_is_sent(script, wire, before):
    conn, s = session(script)
    with pytest.raises(MailError) as e:
        s.run(s.open())
    assert e.value.code == COMM and e.value.reply is None
    assert e.value.detail == "reply not asked for, before " + before
    assert bytes(conn.written) == wire


def test_pipelined_replies_together_are_in_step_but_one_more_is_not():
    # RFC 2920: the group's three replies in one read are what was asked for...
    group = b"250 ok\r\n250 ok\r\n354 go\r\n"
    conn, s = session(
        [GREETING, b"250-mx\r\n250 PIPELINING\r\n", group, b"250 queued\r\n"], conn_tls=True, tls="implicit", user=None
    )
    s.run(s.open())
    assert send(s, b"a@b.c", [b"d@e.f"], [b"hi\r\n"]) == ("250 queued", [])
    # ...a fourth is not: the body is not sent, as the stray 250 would pass for its answer.
    conn, s = session(
        [GREETING, b"250-mx\r\n250 PIPELINING\r\n", group + b"250 queued\r\n"], conn_tls=True, tls="implicit", user=None
    )
    s.run(s.open())
    with pytest.raises(MailError) as e:
        send(s, b"a@b.c", [b"d@e.f"], [b"hi\r\n"])
    assert e.value.detail == "reply not asked for, before body"
    assert bytes(conn.written).endswith(b"DATA\r\n")


def test_stray_reply_between_unpipelined_commands():
    # Without PIPELINING the server answers MAIL twice: RCPT is never sent.
    conn, s = session([GREETING, b"250 mx\r\n", b"250 ok\r\n250 ok\r\n"], conn_tls=True, tls="implicit", user=None)
    s.run(s.open())
    with pytest.raises(MailError) as e:
        send(s, b"a@b.c", [b"d@e.f"], [b"hi\r\n"])
    assert e.value.detail == "reply not asked for, before mail"
    assert bytes(conn.written) == b"EHLO board.local\r\nMAIL FROM:<a@b.c>\r\n"


@pytest.mark.parametrize(
    "lines,auth",
    [
        ([b"AUTH=PLAIN LOGIN"], b"PLAIN LOGIN"),
        ([b"AUTH=LOGIN", b"AUTH CRAM-MD5 PLAIN"], b"LOGIN CRAM-MD5 PLAIN"),
        ([b"AUTH  PLAIN   LOGIN ", b"auth=login"], b"PLAIN   LOGIN LOGIN"),
        ([b"AUTH=", b"SIZE  100"], b""),
    ],
)
def test_old_auth_spelling_and_extra_spaces_merge(lines, auth):
    caps = handshake.parse_ehlo(codec.Reply(250, [b"mx"] + lines))
    assert caps[b"AUTH"] == auth
    assert handshake.choose_mechanism(caps[b"AUTH"], ("LOGIN",)) == (b"LOGIN" if b"LOGIN" in auth.upper() else None)
    assert b"AUTH=" not in b"".join(caps)


def test_old_auth_spelling_is_used_for_login():
    conn, s = session(
        [GREETING, b"250-mx\r\n250-AUTH=LOGIN PLAIN\r\n250 SIZE 1000\r\n", b"235 ok\r\n"], conn_tls=True, tls="implicit"
    )
    s.run(s.open())
    assert bytes(conn.written) == b"EHLO board.local\r\nAUTH PLAIN " + PLAIN + b"\r\n"


# Several messages in one session (RFC 2920 3.1): with PIPELINING a body's end goes out in the
# same write as the next message's MAIL, RCPT and DATA, and the replies are read in order.
PIPE = [GREETING, b"250-mx\r\n250 PIPELINING\r\n"]
GROUP = b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n"


def pipelined(script):
    conn, s = session(PIPE + script, conn_tls=True, tls="implicit", user=None)
    s.run(s.open())
    return conn, s


def env(n, chunks=None):
    return (b"s@b.c", [b"r%d@e.f" % n], chunks or [b"m%d\r\n" % n], None, False, False)


def send_all(s, envelopes, outs=None):
    # Session.send_many_ driven by Session.run: one result per message.
    outs = [] if outs is None else outs
    s.run(s.send_many(envelopes, outs))
    return outs


def group(n, rset=b""):
    return rset + b"MAIL FROM:<s@b.c>\r\nRCPT TO:<r%d@e.f>\r\nDATA\r\n" % n


def test_three_pipelined_messages_one_write_per_further_message():
    conn, s = pipelined([GROUP, b"250 q1\r\n" + GROUP, b"250 q2\r\n", GROUP, b"250 q3\r\n"])
    out = send_all(s, [env(1), env(2, [b"a\r\n", b"b\r\n"]), env(3)])
    assert out == [("250 q1", []), ("250 q2", []), ("250 q3", [])]
    assert conn.writes == [
        b"EHLO board.local\r\n",
        group(1),
        b"m1\r\n",
        b".\r\n" + group(2),
        b"a\r\n",
        b"b\r\n",
        b".\r\n" + group(3),
        b"m3\r\n",
        b".\r\n",
    ]
    # One read per flight: the final reply and the next group's came in one packet, or two.
    assert conn.reads == 2 + 5 and not conn.script


@pytest.mark.parametrize(
    "replies,refusal,third",
    [
        # The middle body is refused: its end of data was sent, so no RSET before the third.
        (
            [b"250 q1\r\n" + GROUP, b"554 5.7.1 spam\r\n" + GROUP],
            "554 5.7.1 spam",
            [b"m2\r\n", b".\r\n" + group(3), b"m3\r\n", b".\r\n"],
        ),
        # Its only recipient is refused and so is DATA: the server may still hold its sender,
        # so RSET goes before the third.
        (
            [
                b"250 q1\r\n250 ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no valid recipients\r\n",
                b"250 reset\r\n" + GROUP,
            ],
            "550 5.1.1 no such user",
            [group(3, b"RSET\r\n"), b"m3\r\n", b".\r\n"],
        ),
    ],
)
def test_refusal_of_the_middle_message_is_its_own(replies, refusal, third):
    conn, s = pipelined([GROUP] + replies + [b"250 q3\r\n"])
    out = send_all(s, [env(1), env(2), env(3)])
    assert out[0] == ("250 q1", []) and out[2] == ("250 q3", [])
    assert isinstance(out[1], MailError) and out[1].reply == refusal and out[1].code == COMM
    assert conn.writes[1:4] == [group(1), b"m1\r\n", b".\r\n" + group(2)]
    assert conn.writes[4:] == third and not conn.script


def test_message_bad_before_mail_sends_the_last_end_alone():
    bad = MailError(861, "to: bad address")
    conn, s = pipelined([GROUP, b"250 q1\r\n", GROUP, b"250 q3\r\n"])
    out = send_all(s, [env(1), bad, env(3)])
    assert out == [("250 q1", []), bad, ("250 q3", [])]
    assert conn.writes[1:] == [group(1), b"m1\r\n", b".\r\n", group(3), b"m3\r\n", b".\r\n"]


@pytest.mark.parametrize(
    "replies,results",
    [
        # 421 to the second MAIL: the first was accepted, the rest get the 421.
        ([b"250 q1\r\n421 4.3.2 bye\r\n"], ["sent", "421", "421"]),
        # 421 as the first message's final reply: nothing was accepted.
        ([b"421 4.3.2 bye\r\n"], ["421", "421", "421"]),
    ],
)
def test_421_ends_the_session_for_all_that_remain(monkeypatch, replies, results):
    from mailer import client
    from mailer.message import Message

    conn = FakeConn(PIPE + [GROUP] + replies, tls=True)
    from mailer import dial  # imported here: compat.once then keeps it, patched

    monkeypatch.setattr(dial, "connect", lambda *a, **k: conn)
    cfg = resolved_cfg(auth="none")
    msgs = [Message("a@b.c", "d@e.f", "s%d" % i, "x", date=(2026, 1, 1, 0, 0, 0, 0, 0)) for i in (1, 2, 3)]
    got = client.deliver(cfg, msgs)
    assert [("sent" if r.ok else r.error.reply[:3]) for r in got] == results
    assert all(r.error.retry for r in got if not r.ok)
    # Nothing more after the 421: no third MAIL, no QUIT, the connection closed.
    assert conn.written.count(b"MAIL FROM") == 2 and b"QUIT" not in conn.written and conn.closed


def test_failure_within_a_body_closes_without_quit(monkeypatch):
    # The server is reading message text: a QUIT would be more of it. Closing without the end
    # of data makes it drop the unfinished message.
    from mailer import client
    from mailer.message import Message

    conn = FakeConn(PIPE + [GROUP], tls=True)
    from mailer import dial  # imported here: compat.once then keeps it, patched

    monkeypatch.setattr(dial, "connect", lambda *a, **k: conn)
    m = Message("a@b.c", "d@e.f", "s", "x\n" * 1000, date=(2026, 1, 1, 0, 0, 0, 0, 0))
    whole = m.chunks
    first = []

    def broken(*a):
        it = whole(*a)
        first.append(next(it))
        yield first[0]
        raise MailError(861, "attachment unreadable")

    m.chunks = broken
    (r,) = client.deliver(resolved_cfg(auth="none"), [m])
    assert r.error.code == 861 and r.error.detail == "attachment unreadable"
    # The first piece went out (each is written before the next is made); no end of data.
    assert conn.written.endswith(b"DATA\r\n" + first[0]) and first[0].endswith(b"x\r\n")
    assert b"QUIT" not in conn.written and conn.closed


def test_without_pipelining_each_final_reply_before_the_next_mail():
    conn, s = session(
        [GREETING, b"250 mx\r\n"] + [b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n", b"250 q\r\n"] * 2,
        conn_tls=True,
        tls="implicit",
        user=None,
    )
    s.run(s.open())
    seen = []

    def envelopes():
        yield env(1)
        seen.append((conn.writes[-1], len(conn.script)))
        yield env(2)

    assert send_all(s, envelopes()) == [("250 q", [])] * 2
    # The first final reply was in before anything of the second message went out.
    assert seen == [(b".\r\n", 4)]
    assert conn.writes[1:] == [
        b"MAIL FROM:<s@b.c>\r\n",
        b"RCPT TO:<r1@e.f>\r\n",
        b"DATA\r\n",
        b"m1\r\n",
        b".\r\n",
        b"MAIL FROM:<s@b.c>\r\n",
        b"RCPT TO:<r2@e.f>\r\n",
        b"DATA\r\n",
        b"m2\r\n",
        b".\r\n",
    ]
    assert not conn.script


def test_reply_beyond_final_and_group_is_not_in_step():
    # The first message's final reply and the second's group were asked for; a stray 250
    # behind them would pass for the second's final reply: its body is not sent.
    conn, s = pipelined([GROUP, b"250 q1\r\n" + GROUP + b"250 stray\r\n"])
    outs = []
    with pytest.raises(MailError) as e:
        send_all(s, [env(1), env(2)], outs)
    assert outs == [("250 q1", [])]
    assert e.value.detail == "reply not asked for, before body"
    assert conn.writes[-1] == b".\r\n" + group(2)


def test_the_ops_copies_agree_with_the_session():
    # The driver ops are private consts (no names on a board's heap): each module that yields
    # or answers them keeps its own copy, and every copy must be the session's value.
    import os
    import re

    from mailer import session

    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "firmware", "mailer")
    seen = set()
    for name in ("handshake", "oauth2", "aclient"):  # attach's and https's read sizes are their own
        path = os.path.join(here, name + ".py")
        with open(path) as f:
            for name, value in re.findall(
                r"^(_READ|_TLS|_TOKEN|_FRESH|_CLOSE|_READ_SIZE) = const\((\d+)\)", f.read(), re.M
            ):
                assert getattr(session, name) == int(value), (path, name)
                seen.add((os.path.basename(path), name))
    with open(os.path.join(here, "https.py")) as f:
        assert "_READ = const(%d)" % session._READ in f.read()
    assert {
        ("handshake.py", "_TLS"),
        ("oauth2.py", "_TOKEN"),
        ("oauth2.py", "_FRESH"),
        ("aclient.py", "_CLOSE"),
    } <= seen
    assert len({session._READ, session._TLS, session._TOKEN, session._FRESH, session._CLOSE}) == 5


@pytest.mark.parametrize(
    "data, text",
    [
        (b"x" * 600, "bad reply: line too long"),
        (b"220 ok\n", "bad reply: line not ended by CRLF"),
        (b"ok\r\n", "bad reply: no reply code"),
        (b"220 caf\xc3\xa9\r\n", "bad reply: not ASCII"),
        (b"2200 ok\r\n", "bad reply: code not three digits"),
        (b"220-a\r\n250 b\r\n", "bad reply: code changed within a reply"),
        (b"220-a\r\n" * 51, "bad reply: reply too long"),
    ],
)
def test_reply_failures_read_their_text_from_mailer_details(data, text):
    # The texts live in mailer.details, loaded for the moment one is raised and unloaded after.
    r = codec.ReplyReader()
    r.feed(data)
    with pytest.raises(MailError) as e:
        r.pop()
    assert (e.value.code, e.value.detail) == (COMM, text)
    assert "mailer.details" not in sys.modules


def test_detail_without_heap_for_its_text(monkeypatch):
    # No heap left to load the texts (the send is failing for want of it): the code still goes
    # out, the detail names the text's number.
    from mailer import errors

    def no_heap(*args):
        raise MemoryError

    monkeypatch.setattr(errors, "once", no_heap)
    with pytest.raises(MailError) as e:
        codec.command(b"MAIL", b"FROM:<a@b>\r\nRCPT")
    assert e.value.detail == "MAIL[detail 7]"


def test_injection_without_heap_for_the_texts_is_still_not_in_step(monkeypatch):
    # The check for bytes injected before TLS keeps its own text (mailer.upgrade, one-time
    # code): with no heap for mailer.details it must still read as an injection, or the
    # failure would seem in step and a QUIT would go out in clear to the server that injected.
    from mailer import classify, errors, upgrade

    def no_heap(*args):
        raise MemoryError

    monkeypatch.setattr(errors, "once", no_heap)
    with pytest.raises(MailError) as e:
        upgrade.check_unread(12)
    assert (e.value.code, e.value.detail) == (TLS_REQUIRED, "data injected before TLS handshake")
    assert classify.in_step(e.value) is False


def test_every_raisers_detail_number_names_its_text():
    # The numbers are kept by hand in each module that raises (private consts, no names on a
    # board's heap): each must still pick the text it had when it was written out in place.
    from mailer import errors, session, transport

    assert [
        errors.detail(n)
        for n in (
            codec._LONG,
            codec._NO_CRLF,
            codec._NO_CODE,
            codec._NOT_ASCII,
            codec._NOT_3,
            codec._CHANGED,
            codec._TOO_LONG,
            codec._INJECT,
            transport._DEADLINE,
            transport._NO_TLS,
            session._CLOSED,
            session._UNASKED,
            handshake._NOT_B64,
            handshake._NO_STARTTLS,
            handshake._NO_MECH,
        )
    ] == [
        "bad reply: line too long",
        "bad reply: line not ended by CRLF",
        "bad reply: no reply code",
        "bad reply: not ASCII",
        "bad reply: code not three digits",
        "bad reply: code changed within a reply",
        "bad reply: reply too long",
        ": CR/LF/NUL not allowed",
        "deadline passed",
        "refusing to send the password without TLS",
        "connection closed by server during ",
        "reply not asked for, before ",
        "challenge is not base64",
        "server does not offer STARTTLS",
        "no AUTH mechanism in common",
    ]
