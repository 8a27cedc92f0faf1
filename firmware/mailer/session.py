# One SMTP session on a connection it is given (RFC 5321), with STARTTLS (RFC 3207),
# AUTH (RFC 4954), PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME and SMTPUTF8 (RFC 6531).
# The connection (mailer.transport.Conn) provides read(n), write(data), starttls(unread),
# password_allowed(allow_plain), close() and .tls.
# Public steps, as CPython's smtplib has them: greet, ehlo, starttls, login, send, quit; open()
# is the first four. Replies the session did not want become device codes in mailer.classify,
# imported only then.
from mailer import codec
from mailer.errors import AUTH, COMM, TLS_REQUIRED, TOO_LARGE, MailError

_READ = 256


def _refused(stage, reply):
    from mailer import classify

    return classify.reply_error(stage, reply)


class Session:
    # tls: "required" | "opportunistic" | "off" | "implicit" (conn is already TLS).
    # user/password: bytes, or None for no AUTH. mechanisms: names the settings allow.
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
    ):
        self.conn = conn
        self.tls_mode = tls
        self.user = user
        self.password = password
        self.mechanisms = mechanisms
        self.allow_plain = allow_plain_password
        self.ehlo_name = ehlo_name
        self.log = log  # callable(str) or None; never given a secret
        self.reader = codec.ReplyReader()
        self.caps = {}
        self.stage = "greeting"
        self.sent = 0  # messages sent in this session: RSET goes before the next one

    def _reply(self):
        r = self.reader.pop()
        while r is None:
            data = self.conn.read(_READ)
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
        self._in_step()
        if self.log:
            self.log("C: " + (shown or data.decode().rstrip()))
        self.conn.write(data)

    def _expect(self, ok, stage):
        r = self._reply()
        if r.code not in ok:
            raise _refused(stage, r)
        return r

    def greet(self):
        """The server's 220 greeting (RFC 5321 4.3.1)."""
        return self._expect((220,), "greeting")

    def ehlo(self):
        """EHLO (RFC 5321 4.1.1.1), HELO only when EHLO is not understood (a 5xx to it);
        returns the capabilities ({} after HELO)."""
        self.stage = "ehlo"
        self._cmd(codec.command(b"EHLO", self.ehlo_name))
        r = self._reply()
        if r.code == 250:
            self.caps = codec.parse_ehlo(r)
            return self.caps
        if r.code < 500:
            raise _refused("ehlo", r)
        self._cmd(codec.command(b"HELO", self.ehlo_name))
        self._expect((250,), "ehlo")
        self.caps = {}
        return self.caps

    def open(self):
        """greet, ehlo, starttls and login, as the TLS mode and credentials say."""
        self.greet()
        self.ehlo()
        self.starttls()
        self.login()

    def starttls(self):
        """STARTTLS (RFC 3207) when the TLS mode asks for it and the connection is not TLS
        yet, then EHLO again; returns the reply to STARTTLS, or None when none was sent."""
        if self.tls_mode not in ("required", "opportunistic") or self.conn.tls:
            return None
        self.stage = "starttls"
        if b"STARTTLS" not in self.caps:
            if self.tls_mode == "required":
                raise MailError(TLS_REQUIRED, "server does not offer STARTTLS", retry=False)
            return None
        self._cmd(b"STARTTLS\r\n")
        r = self._reply()
        if r.code != 220:
            if self.tls_mode == "required":
                raise _refused("starttls", r)
            return r  # opportunistic: go on in clear, as the seed's "allow SSL" does
        self.stage = "handshake"
        self.conn.starttls(self.reader.pending())
        # RFC 3207 4.2: forget everything learned before TLS and ask again.
        self.caps = {}
        self.ehlo()
        return r

    def login(self):
        """AUTH (RFC 4954) with the strongest mechanism both sides allow; nothing without
        credentials. The password goes in clear only when allow_plain_password says so."""
        if self.user is None:
            return
        self.stage = "auth"
        self.conn.password_allowed(self.allow_plain)
        mech = codec.choose_mechanism(self.caps.get(b"AUTH", b""), self.mechanisms)
        if mech is None:
            raise MailError(AUTH, "no AUTH mechanism in common", retry=False)
        if mech == b"PLAIN":
            # RFC 4954 4: the initial response saves a round trip.
            self._cmd(b"AUTH PLAIN " + codec.auth_plain(self.user, self.password) + b"\r\n", "AUTH PLAIN ***")
        elif mech == b"LOGIN":
            self._cmd(b"AUTH LOGIN " + codec.b64(self.user) + b"\r\n", "AUTH LOGIN ***")
            self._challenge()
            self._cmd(codec.b64(self.password) + b"\r\n", "***")
        else:
            from mailer.cram import cram_md5  # only for servers that take it

            self._cmd(b"AUTH CRAM-MD5\r\n")
            r = self._challenge()
            self._cmd(cram_md5(self.user, self.password, r.lines[0]) + b"\r\n", "***")
        self._expect((235,), "auth")

    def _challenge(self):
        r = self._reply()
        if r.code != 334:
            raise _refused("auth", r)
        codec.unb64(r.lines[0])  # a challenge that is not base64 is a broken server
        return r

    def send(self, sender, recipients, chunks, size=None, eightbit=False, smtputf8=False):
        # Returns (final reply line, [(recipient, refusal line)]); raises MailError when
        # nothing was accepted. chunks: iterable of message bytes, not yet dot-stuffed.
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
        if self.sent:
            cmds.insert(0, b"RSET\r\n")
        self.stage = "mail"
        if b"PIPELINING" in self.caps:
            # RFC 2920 3.1: the whole group in one write; replies come back in order.
            self._cmd(b"".join(cmds))
            replies = [self._reply() for _ in cmds]
        else:
            replies = []
            for c in cmds:
                self._cmd(c)
                replies.append(self._reply())
                if c[:4] == b"MAIL" and replies[-1].code != 250:
                    break
        return self._transaction(cmds, replies, recipients, chunks)

    def _transaction(self, cmds, replies, recipients, chunks):
        if self.sent:
            cmds, replies = cmds[1:], replies[1:]
        self.sent += 1
        if replies[0].code != 250:
            raise _refused("mail", replies[0])
        refused = []
        for rcpt, r in zip(recipients, replies[1:-1]):
            if r.code not in (250, 251):
                refused.append((rcpt, r.line()))
        data = replies[-1] if len(replies) == len(cmds) else None
        if len(refused) == len(recipients):
            if data is not None and data.code == 354:
                self._cmd(b".\r\n")  # RFC 2920 3.1: end the data nobody will receive
                self._reply()
            # A 4xx among them makes the whole message worth trying again (nobody got it yet).
            temporary = [r for r in replies[1:-1] if r.code < 500]
            raise _refused("rcpt", temporary[0] if temporary else replies[1])
        if data is None or data.code != 354:
            raise _refused("data", data or replies[-1])
        self.stage = "body"
        self._in_step()  # a reply already here would be taken for the final one
        enc = codec.DataEncoder()
        held = b""
        for chunk in chunks:
            if held:
                self.conn.write(held)
            held = enc.encode(chunk)
        # The body's last piece and the end-of-data line go in one write (no Nagle stall).
        self.conn.write(held + enc.finish())
        self.stage = "final"
        r = self._expect((250,), "final")
        self.stage = "sent"
        return r.line(), refused

    def quit(self):
        """QUIT (RFC 5321 4.1.1.10) and close, without waiting for the 221: whatever the server
        says to it, nothing is lost."""
        try:
            self.conn.write(b"QUIT\r\n")
        except MailError:
            pass  # the server may have gone already; nothing is lost
        self.conn.close()
