# One delivery attempt of one or more messages, from settings to a result with a device code.
# Retries and the outbox live above this (mailer.outbox); the wire lives below (session, codec).
# Client is the one door from the settings to the wire: it reads the settings once, and the
# transport, the session and POP3 get plain values (as mqtt_as copies its config once).
# The session, the transport and the codec are imported when a send starts (Client.prepare),
# and the settings are resolved by mailer.resolve, loaded for that moment only: an idle board
# keeps that heap for its own program.
from mailer.compat import const, once
from mailer.errors import MailError

# Device error codes (mailer.codes; README, "Device error codes").
_COMM = const(801)  # error communicating with the SMTP server
_MEMORY = const(851)  # not enough memory


class Result:
    # ok: accepted by the server for every recipient; error: MailError (code, reply, retry)
    # when not; refused: [(address, reply line)] for recipients refused while others were
    # accepted; deferred: those of them refused for now (4xx, RFC 5321 4.2.1), to be retried.
    # Some deferred: not ok, error is #801 with the first deferral's reply, retry True.
    def __init__(self, message_id, error=None, reply=None, refused=()):
        self.message_id = message_id
        self.reply = reply
        self.refused = list(refused)
        self.deferred = [r for r in self.refused if r[1][:1] == "4"]
        if self.deferred and error is None:
            error = MailError(_COMM, "%d recipients deferred" % len(self.deferred), reply=self.deferred[0][1])
        self.error = error
        self.ok = error is None

    def line(self):
        if self.ok:
            return "sent " + self.message_id
        return self.error.line()


class Client:
    """The settings (a loaded settings dict) resolved for sending (mailer.resolve); the CA
    file is named here and read at each connect. deliver() may be called any number of times.
    settings_path: the file the settings came from, where a rotated OAuth refresh token is
    saved (None: kept in RAM only)."""

    def __init__(self, cfg, settings_path=None):
        once("resolve", "client", self, cfg)
        # The TokenSource, and with it the cached access token, is made by the first session()
        # and kept for every deliver().
        self.settings_path = settings_path
        self.tokens = None

    def session(self, log=None, messages=()):
        """A Session on a new connection (POP before SMTP done first, when set), not opened,
        for messages (whose attachments' buffer it gets)."""
        deadline, tls_cfg, buf = self.prepare(log, messages)
        conn = once(
            "dial",
            "connect",
            self.host,
            self.port,
            self.timeout_ms,
            deadline,
            tls_cfg,
            implicit_tls=self.tls == "implicit",
        )
        return self.on(conn, log, buf)

    def prepare(self, log=None, messages=()):
        """(deadline (compat.deadline), transport.TlsConfig, buffer) of a new send of messages, POP
        before SMTP done first when set (mailer.resolve, loaded for the moment)."""
        return once("resolve", "prepare", self, log, messages)

    def on(self, conn, log=None, buf=None):
        """A Session with these settings on conn (transport.Conn or aconn.AConn), not opened;
        buf: the attachments' buffer (prepare())."""
        from mailer.session import Session

        s = Session(
            conn,
            self.ehlo_name,
            self.tls,
            self.user,
            self.password,
            self.mechanisms,
            self.allow_plain,
            log,
            self.tokens,
        )
        s.buf = buf
        return s

    def deliver(self, messages, log=None):
        """Send messages in one session; returns one Result per message, never raises."""
        try:
            s = self.session(log, messages)
        except Exception as e:  # every failure becomes a code; nothing escapes a send
            return _failed(messages, [], _error(e, "connect"))
        return s.run(self.dialogue(s, messages))

    def dialogue(self, s, messages):
        """The whole exchange on session s, as the session's steps are (a generator of what it
        needs done: Session.run() drives it, and so can an asyncio driver): open, every message,
        QUIT. Returns one Result per message."""
        outs = []
        try:
            yield from s.open()
            yield from s.send_many(_envelopes(s.caps, messages, s.buf), outs)
            yield from s.quit()
            return _failed(messages, outs, None)
        except Exception as e:  # every failure becomes a code; nothing escapes a send
            err = _error(e, s.stage)
            # Within a body a QUIT would be taken for message text: only close, and the server
            # drops the unfinished message (no end of data came). Whether the server is still in
            # step is classify's question (loaded for err already), but not for #851: there may
            # be no heap for it, and after running out the session is not trusted to be in step.
            yield from s.quit(err.code != _MEMORY and s.stage != "body" and once("classify", "in_step", err))
            return _failed(messages, outs, err)


def _failed(messages, outs, error):
    # One Result per message: those with an outcome (a MailError, or the final reply and the
    # refused recipients), then error for every one the session did not reach.
    results = []
    for msg, out in zip(messages, outs):
        if isinstance(out, MailError):
            results.append(Result(msg.message_id, error=out))
        else:
            results.append(Result(msg.message_id, None, *out))
    return results + [Result(m.message_id, error=error) for m in messages[len(outs) :]]


def _error(e, stage):
    if isinstance(e, MemoryError):  # no import now: there may be no room for one
        return MailError(_MEMORY, "out of memory during " + stage)
    from mailer import classify

    return classify.exception(e, stage)


def _envelopes(caps, messages, buf):
    # Session.send_many's envelopes, one at a time (a message's chunks are read only when its
    # body goes out); a message found bad here is given as its MailError.
    offered = b"SMTPUTF8" in caps
    for msg in messages:
        try:
            msg.check_addresses(offered)
            eightbit = msg.has_8bit and b"8BITMIME" in caps
            smtputf8 = bool(msg.utf8) and offered  # a non-ASCII address (RFC 6531)
            size = msg.size(eightbit=eightbit, smtputf8=smtputf8)
            yield msg.envelope_from, msg.recipients(), msg.chunks(eightbit, smtputf8, buf), size, eightbit, smtputf8
        except MailError as e:
            yield e


def deliver(cfg, messages, log=None, settings_path=None):
    """Client(cfg, settings_path).deliver(messages, log): settings that cannot be resolved (a
    CA file that cannot be read) give every message that Result too."""
    try:
        c = Client(cfg, settings_path)
    except Exception as e:
        err = _error(e, "settings")
        return [Result(m.message_id, error=err) for m in messages]
    return c.deliver(messages, log)
