# One SMTP session on a connection it is given (RFC 5321), with STARTTLS (RFC 3207),
# AUTH (RFC 4954), PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME and SMTPUTF8 (RFC 6531).
# The dialogue is written once, as generators that never touch the connection: each step
# yields what it needs done (bytes to write, READ, TLS, TOKEN, FRESH, CLOSE) and is sent back
# the answer. Session.run() drives them on a blocking connection (mailer.transport.Conn:
# read, write, starttls(unread), password_allowed, close, .tls); an asyncio driver drives the
# same generators on a stream. The steps: open (greeting, EHLO, STARTTLS, AUTH: one-time code,
# in mailer.handshake), send_many, quit.
# Replies the session did not want become device codes in mailer.classify, imported only then.
from mailer import codec
from mailer.compat import const, unload
from mailer.errors import COMM, SETTINGS, TOO_LARGE, MailError

# What a step asks of its driver (bytes: write them whole).
READ = const(0)  # send back up to READ_SIZE bytes read, b"" when the server closed
TLS = const(1)  # upgrade the connection: conn.starttls(session.reader.pending())
TOKEN = const(2)  # send back an OAuth access token, the cached one while it is valid
FRESH = const(3)  # send back a newly refreshed one: the last was refused
CLOSE = const(4)  # close the connection
# Each read allocates this much in one piece, and near the edge of the heap that piece is what
# fails first: 128 bytes (most replies are shorter; a longer one takes another read of what
# has arrived, no round trip) needs 1 KiB less heap for one message than 256 (32-bit port).
READ_SIZE = const(128)


def _refused(stage, reply):
    from mailer import classify

    return classify.reply_error(stage, reply)


class Session:
    # tls: "required" | "opportunistic" | "off" | "implicit" (conn is already TLS).
    # user/password: bytes, or None for no AUTH. mechanisms: names the settings allow.
    # tokens: for OAuth mechanisms, an object whose token(force) gives an access token.
    def __init__(
        self,
        conn,
        ehlo_name,
        tls="required",
        user=None,
        password=None,
        mechanisms=("CRAM-MD5", "PLAIN", "LOGIN"),
        allow_plain_password=False,
        log=None,
        tokens=None,
    ):
        self.conn = conn
        self.tls_mode = tls
        self.user = user
        self.password = password
        self.mechanisms = mechanisms
        self.allow_plain = allow_plain_password
        self.ehlo_name = ehlo_name
        self.log = log  # callable(str) or None; never given a secret
        self.tokens = tokens
        self.reader = codec.ReplyReader()
        self.caps = {}
        self.stage = "greeting"
        self.open_tx = False  # MAIL sent and no end of data since: RSET before the next MAIL
        self.bufs = None  # the attachments' buffers, when Client.prepare() made them

    def run(self, step):
        """Drive a step (generator) on the blocking connection; returns what it returns. A
        failure of the I/O is raised inside the step, where it asked."""
        conn = self.conn
        answer = failure = None
        while True:
            try:
                op = step.throw(failure) if failure else step.send(answer)
            except StopIteration as e:
                return e.value
            answer = failure = None
            try:
                if op == READ:
                    answer = conn.read(READ_SIZE)
                elif op == TLS:
                    conn.starttls(self.reader.pending())
                elif op == CLOSE:
                    conn.close()
                elif op == TOKEN or op == FRESH:
                    answer = self.tokens.token(op == FRESH)
                else:
                    conn.write(op)
            except Exception as e:  # handed to the step, which may turn it into a result
                failure = e

    def _reply(self):
        r = self.reader.pop()
        while r is None:
            data = yield READ
            if not data:
                raise MailError(COMM, "connection closed by server during " + self.stage)
            self.reader.feed(data)
            r = self.reader.pop()
        if self.log:  # every line, as the server sent it (VERBOSE=1)
            last = len(r.lines) - 1
            for i, text in enumerate(r.lines):
                self.log("S: %d%s%s" % (r.code, "-" if i < last else " ", text.decode()))
        if r.code == 421:
            # RFC 5321 3.8: the server is closing the channel, whatever was asked. Stop here
            # with its reply (a pipelined group would otherwise end in a bare EOF, and an
            # opportunistic STARTTLS would go on in clear).
            raise _refused(self.stage, r)
        return r

    def _in_step(self):
        # One reply per command (RFC 5321 4.1.1, 4.2), and with PIPELINING only the group's
        # own replies (RFC 2920 3.1): bytes already here before the next command were not
        # asked for, and would be taken as its answer (a 250 behind the greeting, a 235 behind
        # the EHLO after TLS). Stop, and send nothing more, as the STARTTLS check does.
        if self.reader.pending():
            raise MailError(COMM, "reply not asked for, before " + self.stage)

    def _cmd(self, data, shown=None):
        # data, to be yielded for writing, once it is known to be in step (and logged).
        self._in_step()
        if self.log:
            self.log("C: " + (shown or data.decode().rstrip()))
        return data

    def _expect(self, ok, stage):
        r = yield from self._reply()
        if r.code not in ok:
            raise _refused(stage, r)
        return r

    def open(self):
        """The opening (mailer.handshake): greeting, EHLO, STARTTLS and AUTH as the TLS mode
        and credentials say. Its module leaves the heap once the session is open."""
        import gc

        gc.collect()  # it loads into a heap swept clean: less fragmentation (32-bit: 0.5 KiB)
        from mailer import handshake

        yield from handshake.open(self)
        unload("handshake")

    def send_many(self, envelopes, outs):
        """Messages given as (sender, recipients, chunks, size, eightbit, smtputf8, crlf), or
        as the MailError of one that cannot be sent (crlf: the chunks have CRLF line ends only,
        see codec.DataEncoder). Appends one result per message to outs, in
        order: (final reply line, [(recipient, refusal line)]), or the MailError that refused
        it. Raises MailError when the session ends (a 421, a lost connection, a failure within
        a body); outs then holds the results of the messages before."""
        # RFC 2920 3.1: message content may start a pipelined group. With PIPELINING a body's
        # end goes out in one write with the next message's MAIL, RCPT and DATA; the replies
        # come back in order (its final reply, then the group's): one round trip per message.
        pipe = b"PIPELINING" in self.caps
        end = None  # (end of data not yet written, refused) of the message awaiting its final reply
        for env in envelopes:
            try:
                cmds = self._envelope(env)
            except MailError as e:
                cmds = self._own(e)
            if isinstance(cmds, MailError):
                if end:
                    outs.append((yield from self._each(self._final(*end))))
                    end = None
                outs.append(cmds)
                continue
            self.open_tx = True
            if pipe:
                group = self._cmd(b"".join(cmds))
                yield end[0] + group if end else group
                if end:
                    outs.append((yield from self._each(self._final(b"", end[1]))))
                    end = None
                    self.stage = "mail"
                replies = []
                for _ in cmds:
                    replies.append((yield from self._reply()))
            else:
                replies = []
                for c in cmds:
                    yield self._cmd(c)
                    replies.append((yield from self._reply()))
                    if c[:4] == b"MAIL" and replies[-1].code != 250:
                        break
            end = yield from self._each(self._transaction(cmds, replies, env))
            if isinstance(end, MailError):
                outs.append(end)
                end = None
            elif not pipe:
                outs.append((yield from self._each(self._final(*end))))
                end = None
        if end:
            outs.append((yield from self._each(self._final(*end))))

    def _own(self, e):
        # A refusal of one message (a reply to it, or bad input found before its MAIL) is its
        # result, returned; a 421 (RFC 5321 3.8), a lost connection or a failure within a
        # body ends the session for all that remain: raised.
        mine = e.code in (SETTINGS, TOO_LARGE) if e.reply is None else e.reply[:3] != "421"
        if not mine or self.stage == "body":
            raise e
        return e

    def _each(self, step):
        try:
            return (yield from step)
        except MailError as e:
            return self._own(e)

    def _envelope(self, env):
        # The commands of one transaction (RSET, MAIL, RCPT..., DATA).
        self.stage = "mail"
        if isinstance(env, MailError):
            raise env
        sender, recipients, _, size, eightbit, smtputf8, _ = env
        limit = self.caps.get(b"SIZE", b"")
        if size is not None and limit.isdigit() and 0 < int(limit) < size:
            raise MailError(TOO_LARGE, "%d bytes, server takes %s" % (size, limit.decode()), retry=False)
        params = b""
        if size is not None and b"SIZE" in self.caps:
            params += b" SIZE=%d" % size
        if eightbit and b"8BITMIME" in self.caps:
            params += b" BODY=8BITMIME"
        if smtputf8:
            params += b" SMTPUTF8"
        cmds = [codec.command(b"MAIL", b"FROM:<" + sender + b">" + params)]
        for rcpt in recipients:
            cmds.append(codec.command(b"RCPT", b"TO:<" + rcpt + b">"))
        cmds.append(b"DATA\r\n")
        if self.open_tx:
            # The last transaction stopped before its end of data: the server may still hold
            # its sender and recipients. After an end of data it holds nothing, whatever the
            # reply (RFC 5321 4.1.1.4), so no RSET then.
            cmds.insert(0, b"RSET\r\n")
        return cmds

    def _transaction(self, cmds, replies, env):
        # Checks the envelope's replies and sends the body; returns (its last piece with the
        # end-of-data line, not yet written, refused recipients).
        recipients = env[1]
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
            if data is not None and data.code == 354:
                yield self._cmd(b".\r\n")  # RFC 2920 3.1: end the data nobody will receive
                yield from self._reply()
                self.open_tx = False
            # A 4xx among them makes the whole message worth trying again (nobody got it yet).
            temporary = [r for r in replies[1:-1] if r.code < 500]
            raise _refused("rcpt", temporary[0] if temporary else replies[1])
        if data is None or data.code != 354:
            raise _refused("data", data or replies[-1])
        self.stage = "body"
        self._in_step()  # a reply already here would be taken for the final one
        enc = codec.DataEncoder(env[6])
        held = b""
        for chunk in env[2]:
            if held:
                yield held
            held = enc.encode(chunk)
        self.stage = "final"
        self.open_tx = False  # its end goes out before any other command
        # The body's last piece and the end-of-data line go in one write (no Nagle stall), with
        # the next message's group when pipelining.
        return held + enc.finish(), refused

    def _final(self, end, refused):
        self.stage = "final"
        if end:
            yield end
        r = yield from self._expect((250,), "final")
        self.stage = "sent"
        return r.line(), refused

    def quit(self, polite=True):
        """QUIT (RFC 5321 4.1.1.10) and close, without waiting for the 221: whatever the server
        says to it, nothing is lost. polite=False: only close (the server is out of step)."""
        if polite:
            try:
                yield b"QUIT\r\n"
            except MailError:
                pass  # the server may have gone already; nothing is lost
        yield CLOSE
