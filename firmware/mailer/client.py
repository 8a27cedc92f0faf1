# One delivery attempt of one or more messages, from settings to a result with a device code.
# Retries and the outbox live above this (mailer.outbox); the wire lives below (session, codec).
from mailer import classify, settings, transport
from mailer.compat import Deadline
from mailer.errors import SETTINGS, MailError
from mailer.session import Session


class Result:
    # ok: accepted by the server; error: MailError (code, reply, retry) when not;
    # refused: [(address, reply line)] for recipients refused while others were accepted.
    def __init__(self, message_id, error=None, reply=None, refused=()):
        self.message_id = message_id
        self.error = error
        self.ok = error is None
        self.reply = reply
        self.refused = list(refused)

    def line(self):
        if self.ok:
            return "sent " + self.message_id
        return self.error.line()


def _session(cfg, log):
    smtp = cfg["smtp"]
    host = smtp["host"]
    tls_cfg = transport.tls_config(smtp, host, smtp["tls"])
    deadline = Deadline(settings.deadline_s(cfg) * 1000)
    if smtp["auth"] == "pop_before_smtp":
        # The seed's POP-before-SMTP: a POP3 login opens the SMTP server to this address.
        from mailer import pop3

        pop3.pop_before_smtp(cfg, deadline)
    conn = transport.connect(host, smtp["port"], smtp["timeout_s"] * 1000, deadline, tls_cfg,
                             implicit_tls=smtp["tls"] == "implicit")
    user, password = settings.credentials(cfg)
    return Session(
        conn,
        tls=smtp["tls"],
        user=user.encode() if user else None,
        password=(password or "").encode(),
        mechanisms=smtp["mechanisms"],
        allow_plain_password=smtp["allow_plain_password"],
        ehlo_name=(smtp.get("ehlo_name") or "mailer.local").encode(),
        log=log,
    )


def _send_one(s, msg):
    offered = b"SMTPUTF8" in s.caps
    msg.check_addresses(offered)
    eightbit = msg.has_8bit and b"8BITMIME" in s.caps
    smtputf8 = msg.needs_smtputf8 and offered
    size = msg.size(eightbit=eightbit, smtputf8=smtputf8)
    reply, refused = s.send(
        msg.envelope_from, msg.recipients(), msg.chunks(eightbit=eightbit, smtputf8=smtputf8),
        size=size, eightbit=eightbit, smtputf8=smtputf8,
    )
    return Result(msg.message_id, reply=reply, refused=refused)


def deliver(cfg, messages, log=None):
    """Send messages in one session; returns one Result per message, never raises."""
    results = []
    s = None
    stage = "connect"
    try:
        s = _session(cfg, log)
        s.open()
        for msg in messages:
            try:
                results.append(_send_one(s, msg))
            except MailError as e:
                # A refused message (a reply, or bad input found before MAIL) does not spoil
                # the session for the next one; anything else ends it, and so does a 421
                # (RFC 5321 3.8: the server is closing the connection).
                if e.reply is None and e.code != SETTINGS or s.stage == "body" or (e.reply or "")[:3] == "421":
                    raise
                results.append(Result(msg.message_id, error=e))
        s.quit()
    except Exception as e:  # every failure becomes a code; nothing escapes a send
        err = classify.exception(e, s.stage if s else stage)
        if s:
            s.conn.close()
        results += [Result(m.message_id, error=err) for m in messages[len(results):]]
    return results
