# The mail transactions of an open SMTP session (RFC 5321 3.3): MAIL, RCPT, DATA and the body,
# pipelined when the server offers PIPELINING (RFC 2920), with SIZE (RFC 1870), 8BITMIME and
# SMTPUTF8 (RFC 6531). Steps of mailer.session (generators on a Session s: they yield what they
# need done). Session.send_many() imports this module once the opening's (mailer.handshake) has
# left the heap, and unloads it after: the two are never on the heap together.
from mailer import codec
from mailer.compat import const, unload
from mailer.errors import MailError
from mailer.session import _refused

# Device error codes (mailer.codes; README, "Device error codes").
_SETTINGS = const(861)  # settings invalid / bad input
_TOO_LARGE = const(864)  # message too large


def send_many(s, items, outs):
    """Session s's send_many(items, outs) (see there): items are the envelopes."""
    # RFC 2920 3.1: message content may start a pipelined group. With PIPELINING a body's
    # end of data goes out in one write with the next message's MAIL, RCPT and DATA; the replies
    # come back in order (its final reply, then the group's): one round trip per message.
    # _transaction and _final take their own message's refusals (_own), not a wrapper step
    # around them: one generator fewer on the heap at each level.
    end = None  # (end of data not yet written, refused) of the message awaiting its final reply
    try:
        for env in items:
            try:
                cmds = _envelope(s, env)
            except MailError as e:
                cmds = _own(s, e)
            if isinstance(cmds, MailError):
                if end:
                    outs.append((yield from _final(s, *end)))
                    end = None
                outs.append(cmds)
                continue
            s.open_tx = True
            replies = yield from _group(s, cmds, end, outs)
            end = None  # written and answered in the group: not held through this body
            end = yield from _transaction(s, cmds, replies, env)
            # The message's spent chunk generators keep their last locals (the body's tail):
            # not kept through the final reply, the peak of the send's heap.
            env = None
            if isinstance(end, MailError):
                outs.append(end)
                end = None
            elif b"PIPELINING" not in s.caps:
                outs.append((yield from _final(s, *end)))
                end = None
        if end:
            outs.append((yield from _final(s, *end)))
    finally:
        unload("transfer")  # Session.send_many imported it for this step only


def _group(s, cmds, end, outs):
    # The envelope's commands written and their replies read (a list). With PIPELINING, in
    # one write behind the end of data of the message before (end), whose final reply comes
    # first (RFC 2920 3.1); without, one at a time, stopping at a refused MAIL.
    replies = []
    if b"PIPELINING" in s.caps:
        group = s._cmd(b"".join(cmds))
        yield end[0] + group if end else group
        if end:
            outs.append((yield from _final(s, b"", end[1])))
            s.stage = "mail"
        for _ in cmds:
            replies.append((yield from s._reply()))
    else:
        for c in cmds:
            yield s._cmd(c)
            replies.append((yield from s._reply()))
            if c[:4] == b"MAIL" and replies[-1].code != 250:
                break
    return replies


def _own(s, e):
    # A refusal of one message (a reply to it, or bad input found before its MAIL) is its
    # result, returned; a 421 (RFC 5321 3.8), a lost connection or a failure within a
    # body ends the session for all that remain: raised.
    mine = e.code in (_SETTINGS, _TOO_LARGE) if e.reply is None else e.reply[:3] != "421"
    if not mine or s.stage == "body":
        raise e
    return e


def _envelope(s, env):
    # The commands of one transaction (RSET, MAIL, RCPT..., DATA).
    s.stage = "mail"
    if isinstance(env, MailError):
        raise env
    sender, recipients, _, size, eightbit, smtputf8 = env
    limit = s.caps.get(b"SIZE", b"")
    if size is not None and limit.isdigit() and 0 < int(limit) < size:
        raise MailError(_TOO_LARGE, "%d bytes, server takes %s" % (size, limit.decode()), retry=False)
    params = b""
    if size is not None and b"SIZE" in s.caps:
        params += b" SIZE=%d" % size
    if eightbit and b"8BITMIME" in s.caps:
        params += b" BODY=8BITMIME"
    if smtputf8:
        params += b" SMTPUTF8"
    cmds = [codec.command(b"MAIL", b"FROM:<" + sender + b">" + params)]
    for rcpt in recipients:
        cmds.append(codec.command(b"RCPT", b"TO:<" + rcpt + b">"))
    cmds.append(b"DATA\r\n")
    if s.open_tx:
        # The last transaction stopped before its end of data: the server may still hold
        # its sender and recipients. After an end of data it holds nothing, whatever the
        # reply (RFC 5321 4.1.1.4), so no RSET then.
        cmds.insert(0, b"RSET\r\n")
    return cmds


def _transaction(s, cmds, replies, env):
    # Checks the envelope's replies and sends the body; returns (its last piece with the
    # end-of-data line, not yet written, refused recipients).
    try:
        refused, data, err = _checked(cmds, replies, env[1])
        if err:
            if data is not None and data.code == 354:
                yield s._cmd(b".\r\n")  # RFC 2920 3.1: end the data nobody will receive
                yield from s._reply()
                s.open_tx = False
            raise err
        s.stage = "body"
        s._in_step()  # a reply already here would be taken for the final one
        bol = True  # the next chunk starts a line
        for chunk in env[2]:
            if chunk:
                data = codec.stuffed(chunk, bol)
                bol = chunk[-1] == 10  # LF
                yield data  # written before the next chunk is made: a chunk may be a reused buffer
        s.stage = "final"
        s.open_tx = False  # its end goes out before any other command
        # The end-of-data line (a text not ending in a line break gets one first) goes in the
        # next write, with the next message's group when pipelining. Not joined to the body's
        # last piece: that copy of it was what failed first near the edge (32-bit); with
        # TCP_NODELAY (mailer.dial) a second small write costs no stall.
        return b".\r\n" if bol else b"\r\n.\r\n", refused
    except MailError as e:
        return _own(s, e)


def _checked(cmds, replies, recipients):
    # The envelope's replies: (refused recipients, the DATA reply or None, the refusal of them
    # all or None). Raises the refusal of the MAIL or of the DATA.
    if cmds[0] == b"RSET\r\n":
        cmds, replies = cmds[1:], replies[1:]
    if replies[0].code != 250:
        raise _refused("mail", replies[0])
    refused = []
    for rcpt, r in zip(recipients, replies[1:-1]):
        if r.code not in (250, 251):
            refused.append((rcpt, r.line()))
    data = replies[-1] if len(replies) == len(cmds) else None
    if len(refused) == len(recipients):
        # A 4xx among them makes the whole message worth trying again (nobody got it yet).
        temporary = [r for r in replies[1:-1] if r.code < 500]
        return refused, data, _refused("rcpt", temporary[0] if temporary else replies[1])
    if data is None or data.code != 354:
        raise _refused("data", data or replies[-1])
    return refused, data, None


def _final(s, end, refused):
    # The final reply (RFC 5321 4.1.1.4), read here, not through s._expect: at the peak of a
    # send's heap, one generator fewer.
    s.stage = "final"
    try:
        if end:
            yield end
        r = yield from s._reply()
        if r.code != 250:
            raise _refused("final", r)
    except MailError as e:
        return _own(s, e)
    s.stage = "sent"
    return r.line(), refused
