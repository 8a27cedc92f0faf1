# One SMTP session on a connection it is given (RFC 5321), with STARTTLS (RFC 3207),
# AUTH (RFC 4954), PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME and SMTPUTF8 (RFC 6531).
# The dialogue is written once, as generators that never touch the connection: each step
# yields what it needs done (bytes to write, READ, TLS, TOKEN, FRESH, CLOSE) and is sent back
# the answer. Session.run() drives them on a blocking connection (mailer.transport.Conn:
# read, write, starttls(unread), password_allowed, close, .tls); an asyncio driver drives the
# same generators on a stream. The steps: open (greeting, EHLO, STARTTLS, AUTH: one-time code,
# in mailer.handshake), send_many (the transactions, in mailer.transfer), quit.
# Replies the session did not want become device codes in mailer.classify, imported only then.
from mailer import codec
from mailer.compat import const, unload
from mailer.errors import MailError, detail

# Device error codes (mailer.codes; README, "Device error codes").
_COMM = const(801)  # error communicating with the SMTP server
# mailer.details' texts.
_CLOSED = const(10)
_UNASKED = const(11)

# What a step asks of its driver (bytes: write them whole). Private consts (no names on a board's
# heap): mailer.handshake, oauth2, https and aclient keep their own copies of the ones they use,
# and host_tests/test_session.py checks that they agree.
_READ = const(0)  # send back up to _READ_SIZE bytes read, b"" when the server closed
_TLS = const(1)  # upgrade the connection: conn.starttls(session.reader.pending())
_TOKEN = const(2)  # send back an OAuth access token, the cached one while it is valid
_FRESH = const(3)  # send back a newly refreshed one: the last was refused
_CLOSE = const(4)  # close the connection
# Each read allocates this much in one piece, and near the edge of the heap that piece is what
# fails first: 64 bytes (a longer reply takes more reads of what has already arrived, no round
# trip) needs 0.75 KiB less heap for one message than 128, and 128 1 KiB less than 256 (32-bit).
_READ_SIZE = const(64)


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
        allow_plain=False,
        log=None,
        tokens=None,
    ):
        self.conn = conn
        self.tls_mode = tls
        self.user = user
        self.password = password
        self.mechanisms = mechanisms
        self.allow_plain = allow_plain
        self.ehlo_name = ehlo_name
        self.log = log  # callable(str) or None; never given a secret
        self.tokens = tokens
        self.reader = codec.ReplyReader()
        self.caps = {}
        self.stage = "greeting"
        self.open_tx = False  # MAIL sent and no end of data since: RSET before the next MAIL
        self.buf = None  # the attachments' buffer, when Client.prepare() made one

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
                if op == _READ:
                    answer = conn.read(_READ_SIZE)
                elif op == _TLS:
                    conn.starttls(self.reader.pending())
                elif op == _CLOSE:
                    conn.close()
                elif op == _TOKEN or op == _FRESH:
                    answer = self.tokens.token(op == _FRESH)
                else:
                    conn.write(op)
            except Exception as e:  # handed to the step, which may turn it into a result
                failure = e

    def _reply(self):
        r = self.reader.pop()
        while r is None:
            data = yield _READ
            if not data:
                raise MailError(_COMM, detail(_CLOSED) + self.stage)
            self.reader.feed(data)
            r = self.reader.pop()
        if self.log:  # every line, as the server sent it (VERBOSE=1)
            last = len(r.lines) - 1
            for i, text in enumerate(r.lines):
                self.log("S: %d%c%s" % (r.code, 45 if i < last else 32, text.decode()))  # "-" or " "
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
            raise MailError(_COMM, detail(_UNASKED) + self.stage)

    def _cmd(self, data, text=None):
        # data, to be yielded for writing, once it is known to be in step (and logged).
        self._in_step()
        if self.log:
            self.log("C: " + (text or data.decode().rstrip()))
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

    def send_many(self, items, outs):
        """items: messages given as (sender, recipients, chunks, size, eightbit, smtputf8), or as
        the MailError of one that cannot be sent; chunks: bytes with CRLF line ends throughout,
        not yet dot-stuffed (codec.stuffed), as mailer.message makes them. Appends one result
        per message to outs, in order: (final reply line, [(recipient, refusal line)]), or the
        MailError that refused it. Raises MailError when the session ends (a 421, a lost
        connection, a failure within a body); outs then holds the results of the messages before.
        The transactions are mailer.transfer: its code loads once the opening's has left the
        heap, so the two are never on it together."""
        import gc

        gc.collect()
        from mailer import transfer

        # Its step itself, not one wrapped in another (which would be one more generator on the
        # heap all through the transactions): the module unloads itself when the step ends.
        return transfer.send_many(self, items, outs)

    def quit(self, polite=True):
        """QUIT (RFC 5321 4.1.1.10) and close, without waiting for the 221: whatever the server
        says to it, nothing is lost. polite=False: only close (the server is out of step)."""
        if polite:
            try:
                yield b"QUIT\r\n"
            except MailError:
                pass  # the server may have gone already; nothing is lost
        yield _CLOSE
