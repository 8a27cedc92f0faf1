# The hostile-server cases, shared by the Unix-port suite (test_faults.py) and the CPython one
# (test_faults_host.py): each a FaultServer script (faultserver.py), the settings that differ,
# and the code, retry verdict and time bound that must come out.
import ssl

from faultserver import EHLO_AUTH, EHLO_TLS, GREETING, auth_plain_ok, to_starttls, transaction

from tools.certs import server_context

USER = "device@fault.test"
PASSWORD = "Fault-Pa55-w0rd"
RCPTS = ("ops@fault.test", "boss@fault.test")
OK_FINAL = b"250 2.0.0 Ok: queued as F1\r\n"


class Case:
    """One fault: the server's script, the settings that differ, and what must come out.
    code None means the message must count as sent. fast: the failure is seen at once (a
    refusal, a broken bound, a dropped connection), not by waiting for a time-out.
    secret_free: neither AUTH, MAIL nor the password may reach the server's ears."""

    def __init__(
        self,
        name,
        steps,
        code=None,
        retry=None,
        smtp=None,
        fast=True,
        rcpts=1,
        secret_free=False,
        refused=0,
        by_deadline=False,
        wire_end=None,
    ):
        self.name = name
        self.steps = steps
        self.code = code
        self.retry = retry
        self.smtp = smtp or {}
        self.fast = fast
        self.rcpts = rcpts
        self.secret_free = secret_free
        self.refused = refused
        self.by_deadline = by_deadline  # only the overall deadline (3 x timeout_s) can end it
        self.wire_end = wire_end  # what the client sent last (b"": nothing at all), or None


def _pre(ctx):
    # Up to the point where AUTH PLAIN was accepted: over STARTTLS when ctx is a server
    # context, in clear otherwise (the settings then allow a password in clear).
    if ctx is None:
        return [
            ("send", GREETING),
            ("expect", b"EHLO"),
            ("send", EHLO_AUTH),
            ("expect", b"AUTH PLAIN"),
            ("send", b"235 2.7.0 Ok\r\n"),
        ]
    return to_starttls(ctx) + auth_plain_ok()


def mode_smtp(ctx):
    """The settings of the plain (ctx None) or the STARTTLS mode of the generic cases."""
    if ctx is None:
        return {"tls": "off", "allow_plain_password": True, "mechanisms": ["PLAIN"]}
    return {"tls": "required", "mechanisms": ["PLAIN"]}


def _mail_steps(stage, reply):
    # The transaction up to `stage`, where `reply` (bytes, or None to drop) is answered.
    order = [
        (b"MAIL FROM:", b"250 2.1.0 Ok\r\n", "mail"),
        (b"RCPT TO:", b"250 2.1.5 Ok\r\n", "rcpt"),
        (b"DATA", b"354 Go ahead\r\n", "data"),
    ]
    steps = []
    for prefix, ok, name in order:
        steps.append(("expect", prefix))
        if name == stage:
            return steps + ([("send", reply), ("close",)] if reply else [("close",)])
        steps.append(("send", ok))
    if stage == "body":
        return steps + [("recv", 1), ("close",)]
    steps.append(("data",))
    if stage == "final":
        return steps + ([("send", reply), ("close",)] if reply else [("close",)])
    if stage == "quit":  # the 250 came: the message is the server's now
        return steps + [("send", OK_FINAL), ("close",)]
    raise ValueError(stage)


def stage_cases(ctx):
    """Case 7 (the connection dropped at each stage) and case 8 (421 at each stage)."""
    out = []
    tls = ctx is not None
    ehlo = EHLO_TLS if tls else EHLO_AUTH
    early = {
        "greeting": [],
        "ehlo": [("send", GREETING), ("expect", b"EHLO")],
    }
    if tls:
        early["starttls"] = [("send", GREETING), ("expect", b"EHLO"), ("send", ehlo), ("expect", b"STARTTLS")]
        early["handshake"] = early["starttls"] + [("send", b"220 2.0.0 Ready\r\n"), ("recv", 1)]
        early["auth"] = to_starttls(ctx) + [("expect", b"EHLO"), ("send", EHLO_AUTH), ("expect", b"AUTH")]
    else:
        early["auth"] = [("send", GREETING), ("expect", b"EHLO"), ("send", ehlo), ("expect", b"AUTH")]
    for stage, steps in early.items():
        out.append(Case("drop-" + stage, steps + [("close",)], 801, True))
        if stage != "handshake":  # a reply cannot come in the middle of the handshake
            reply = b"421 4.3.2 Service shutting down\r\n"
            out.append(Case("421-" + stage, steps + [("send", reply), ("close",)], 801, True))
    for stage in ("mail", "rcpt", "data", "body", "final", "quit"):
        out.append(
            Case(
                "drop-" + stage,
                _pre(ctx) + _mail_steps(stage, None),
                None if stage == "quit" else 801,
                None if stage == "quit" else True,
            )
        )
        if stage not in ("body", "quit"):
            reply = b"421 4.3.2 Service shutting down\r\n"
            out.append(Case("421-" + stage, _pre(ctx) + _mail_steps(stage, reply), 801, True))
    return out


def reply_cases(ctx):
    """Cases 5, 6, 9, 11, 12 and the happy path, in the plain or the STARTTLS mode."""
    pre = _pre(ctx)
    bad = [
        ("long-line", b"220 " + b"x" * 100000),
        ("endless-multiline", b"220 hi\r\n"),  # the EHLO reply below never ends
        ("code-4-digits", b"2200 fault.test ESMTP\r\n"),
        ("code-2-digits", b"22 fault.test ESMTP\r\n"),
        ("not-ascii", b"220 fault.test \xc3\xa9\xff ESMTP\r\n"),
        ("lf-only", b"220 fault.test ESMTP\n"),
    ]
    out = [Case("sent", pre + transaction(final=OK_FINAL), None)]
    for name, greeting in bad:
        steps = [("send", greeting)]
        if name == "endless-multiline":
            steps += [("expect", b"EHLO"), ("send", b"250-fault.test\r\n" + b"250-X-FILLER\r\n" * 20000)]
        out.append(Case("bad-" + name, steps, 801, True))
    # Case 6: one byte every 0.4 s never trips the per-read time-out (1 s); the deadline must.
    out.append(
        Case("drip-greeting", [("drip", b"220 " + b"x" * 60 + b"\r\n", 0.4)], 801, True, fast=False, by_deadline=True)
    )
    out.append(Case("silent-greeting", [("stall", 30)], 801, True, fast=False))
    # Case 9: AUTH LOGIN with a challenge that is not base64, and 334s where none belongs.
    login = mode_smtp(ctx)
    login = dict(login, mechanisms=["LOGIN"])
    head = pre[:-2]  # up to the EHLO reply, before AUTH
    out.append(
        Case("login-bad-challenge", head + [("expect", b"AUTH LOGIN"), ("send", b"334 abc\r\n")], 801, True, smtp=login)
    )
    out.append(
        Case(
            "login-extra-334",
            head
            + [
                ("expect", b"AUTH LOGIN"),
                ("send", b"334 UGFzc3dvcmQ6\r\n"),
                ("recv", 1),
                ("send", b"334 UGFzc3dvcmQ6\r\n"),
            ],
            801,
            True,
            smtp=login,
        )
    )
    out.append(Case("plain-334", head + [("expect", b"AUTH PLAIN"), ("send", b"334 \r\n")], 801, True))
    out.append(
        Case(
            "plain-535",
            head + [("expect", b"AUTH PLAIN"), ("send", b"535 5.7.8 Authentication credentials invalid\r\n")],
            839,
            False,
        )
    )
    out.append(Case("mail-334", pre + [("expect", b"MAIL"), ("send", b"334 what\r\n")], 801, True))
    # Case 11: one of two recipients refused (partial success); both refused (#801).
    out.append(
        Case(
            "rcpt-partial",
            pre
            + [
                ("expect", b"MAIL"),
                ("send", b"250 Ok\r\n"),
                ("expect", b"RCPT"),
                ("send", b"250 Ok\r\n"),
                ("expect", b"RCPT"),
                ("send", b"550 5.1.1 No such user\r\n"),
                ("expect", b"DATA"),
                ("send", b"354 Go\r\n"),
                ("data",),
                ("send", OK_FINAL),
                ("expect", b"QUIT"),
            ],
            None,
            rcpts=2,
            refused=1,
        )
    )
    out.append(
        Case(
            "rcpt-all-refused",
            pre
            + [
                ("expect", b"MAIL"),
                ("send", b"250 Ok\r\n"),
                ("expect", b"RCPT"),
                ("send", b"550 5.1.1 No such user\r\n"),
                ("expect", b"RCPT"),
                ("send", b"550 5.1.1 No such user\r\n"),
                ("expect", b"DATA"),
                ("send", b"554 5.5.1 No valid recipients\r\n"),
            ],
            801,
            False,
            rcpts=2,
        )
    )
    # Case 12: no answer after the final ".": the server may have the message; #801, retry.
    out.append(Case("final-silent", pre + _mail_steps("final", None)[:-1] + [("stall", 30)], 801, True, fast=False))
    # SIZE: the EHLO limit (before MAIL), and 552 to the final ".".
    small = [("send", GREETING), ("expect", b"EHLO")]
    if ctx is None:
        small += [
            ("send", b"250-fault.test\r\n250-SIZE 100\r\n250 AUTH PLAIN\r\n"),
            ("expect", b"AUTH PLAIN"),
            ("send", b"235 Ok\r\n"),
        ]
    else:
        small = to_starttls(ctx) + auth_plain_ok(b"250-fault.test\r\n250-SIZE 100\r\n250 AUTH PLAIN\r\n")
    out.append(Case("size-limit", small, 864, False))
    out.append(Case("final-552", pre + _mail_steps("final", b"552 5.3.4 Message too big\r\n"), 864, False))
    # A 530 banner is the server refusing to talk, not a failed login (#839).
    out.append(Case("greeting-530", [("send", b"530 5.7.0 Authentication required\r\n")], 801, False, secret_free=True))
    # The old AUTH= spelling (and extra spaces) is an AUTH capability like any other.
    old = b"250-fault.test\r\n250-PIPELINING\r\n250-AUTH=PLAIN  LOGIN\r\n250 SIZE 100000\r\n"
    if ctx is None:
        old_auth = [
            ("send", GREETING),
            ("expect", b"EHLO"),
            ("send", old),
            ("expect", b"AUTH PLAIN"),
            ("send", b"235 2.7.0 Ok\r\n"),
        ]
    else:
        old_auth = to_starttls(ctx) + auth_plain_ok(old)
    out.append(Case("caps-auth-equals", old_auth + transaction(), None))
    # Stay in step: a reply nobody asked for stops the session (#801) before the next command,
    # and nothing more is sent; the replies of one pipelined group arriving together are fine.
    group = [("expect", b"MAIL"), ("expect", b"RCPT"), ("expect", b"DATA")]
    replies = b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 Go\r\n"
    out.append(Case("stray-after-greeting", [("send", GREETING + b"250 2.0.0 Ok\r\n")], 801, True, wire_end=b""))
    out.append(
        Case(
            "pipelined-together",
            pre + group + [("send", replies), ("data",), ("send", OK_FINAL), ("expect", b"QUIT")],
            None,
        )
    )
    out.append(Case("stray-after-group", pre + group + [("send", replies + OK_FINAL)], 801, True, wire_end=b"DATA\r\n"))
    return out


def starttls_cases(ctx):
    """Cases 1-4: STARTTLS missing, refused, injected into, and capabilities that change."""
    head = [("send", GREETING), ("expect", b"EHLO")]
    # STARTTLS and AUTH offered together: what a refusal leaves the client to go on with.
    both = b"250-fault.test\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n"
    refused = head + [("send", both), ("expect", b"STARTTLS")]
    out = [
        Case("no-starttls", head + [("send", EHLO_AUTH)], 862, False, secret_free=True),
        Case("starttls-454", refused + [("send", b"454 4.7.0 TLS not available\r\n")], 862, False, secret_free=True),
        Case("starttls-501", refused + [("send", b"501 5.5.4 Syntax error\r\n")], 862, False, secret_free=True),
        # "opportunistic" goes on in clear after a refusal, but not with the password...
        Case(
            "opportunistic-454",
            refused + [("send", b"454 4.7.0 TLS not available\r\n")],
            862,
            False,
            smtp={"tls": "opportunistic"},
            secret_free=True,
        ),
        # ...and sends without AUTH, or with it when the settings allow a password in clear.
        Case(
            "opportunistic-454-noauth",
            refused + [("send", b"454 4.7.0 TLS not available\r\n")] + transaction(),
            None,
            smtp={"tls": "opportunistic", "auth": "none"},
        ),
        Case(
            "opportunistic-454-plain",
            refused
            + [("send", b"454 4.7.0 TLS not available\r\n"), ("expect", b"AUTH PLAIN"), ("send", b"235 Ok\r\n")]
            + transaction(),
            None,
            smtp={"tls": "opportunistic", "allow_plain_password": True, "mechanisms": ["PLAIN"]},
        ),
        # Case 3: reply lines injected behind the 220, in the same packet (CVE-2021-22947).
        Case(
            "starttls-injection",
            refused + [("send", b"220 Ready\r\n250-evil\r\n250 AUTH PLAIN\r\n")],
            862,
            False,
            secret_free=True,
        ),
    ]
    for c in out:  # whatever the mode of the other cases: these are about STARTTLS
        c.smtp = dict({"tls": "required", "allow_plain_password": False}, **c.smtp)
    if ctx is not None:
        # Case 4: only what the server says after TLS counts. Before it: PLAIN and a SIZE the
        # message exceeds; after it: CRAM-MD5 and no limit.
        pre = b"250-fault.test\r\n250-AUTH PLAIN\r\n250-SIZE 10\r\n250 STARTTLS\r\n"
        post = b"250-fault.test\r\n250 AUTH CRAM-MD5\r\n"
        cram = {"tls": "required", "mechanisms": ["PLAIN", "CRAM-MD5"]}
        out.append(
            Case(
                "caps-after-tls",
                to_starttls(ctx, pre)
                + [
                    ("expect", b"EHLO"),
                    ("send", post),
                    ("expect", b"AUTH CRAM-MD5"),
                    ("send", b"334 PDEyMzQ1LjY3OEBmYXVsdC50ZXN0Pg==\r\n"),
                    ("expect", b""),
                    ("send", b"235 Ok\r\n"),
                ]
                + transaction(),
                None,
                smtp=cram,
            )
        )
        # A 235 behind the EHLO reply after TLS would pass for the answer to AUTH.
        out.append(
            Case(
                "stray-235-after-tls",
                to_starttls(ctx)
                + [("expect", b"EHLO"), ("send", EHLO_AUTH + b"235 2.7.0 Authentication successful\r\n")],
                801,
                True,
                secret_free=True,
                wire_end=b"EHLO board.test\r\n",
            )
        )
        out.append(
            Case(
                "caps-auth-only-before-tls",
                to_starttls(ctx, pre) + [("expect", b"EHLO"), ("send", b"250-fault.test\r\n250 SIZE 1000\r\n")],
                839,
                False,
                smtp=cram,
            )
        )
    return out


ABORT_MODES = ("starttls-tls12", "starttls-tls13", "implicit-tls13")


def abort_case(certs, mode):
    """A server that demands a client certificate and resets the connection when the client
    answers without one, in the middle of its handshake (TLS 1.2: inside it; TLS 1.3: after
    the client's side of it is over), over STARTTLS or implicit TLS: #841, not retried."""
    ctx = server_context(certs, client_ca=True)
    if mode.endswith("tls12"):
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if mode.startswith("implicit"):
        return Case("abort-" + mode, [("abort_tls", ctx)], 841, False, secret_free=True, smtp={"tls": "implicit"})
    return Case("abort-" + mode, to_starttls(ctx)[:-1] + [("abort_tls", ctx)], 841, False, secret_free=True)


def check(case, code, retry, refused, elapsed, srv, timeout_s, slack):
    """The assertions every case makes, whatever ran it."""
    assert code == case.code, case.name
    if case.code is not None:
        assert retry == case.retry, case.name
    assert refused == case.refused, case.name
    # In time: a failure seen at once within one time-out, the rest within the deadline.
    limit = (timeout_s if case.fast else 3 * timeout_s) + slack
    assert elapsed < limit, "%s took %.2f s" % (case.name, elapsed)
    if case.by_deadline:  # neither a per-read time-out nor anything else ended it early
        assert elapsed > 3 * timeout_s - 0.2, "%s ended after %.2f s" % (case.name, elapsed)
    # The client hung up: no socket left open on the board.
    assert srv.wait_eof(3), case.name + ": the client did not close the connection"
    # The script's expectations held: the client sent the commands the case expected.
    assert not [e for e in srv.errors if e.startswith("expected")], (case.name, srv.errors)
    wire = srv.wire()
    if case.wire_end is not None:  # nothing sent after it (no next command, no body, no QUIT)
        assert wire.endswith(case.wire_end) and (case.wire_end or not wire), (case.name, wire[-80:])
    if case.secret_free:
        for word in (b"AUTH", b"MAIL", PASSWORD.encode()) + b64_forms():
            assert word not in wire, (case.name, word)


def b64_forms(user=USER, password=PASSWORD):
    """The password and its base64 forms, as bytes: the PLAIN blob, LOGIN's answer, and the
    password's own groups at each of the three alignments it can have inside any longer
    base64 text (whatever precedes it, one of these is a substring)."""
    import binascii

    def b(x):
        return binascii.b2a_base64(x, newline=False)

    u, p = user.encode(), password.encode()
    aligned = tuple(b(p[i:][: (len(p) - i) // 3 * 3]) for i in (0, 1, 2))
    return (p, b(b"\0" + u + b"\0" + p), b(p)) + aligned
