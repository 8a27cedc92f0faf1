# The settings resolved for sending, once (as mqtt_as copies its config once): what
# mailer.client.Client keeps of a loaded settings dict, as plain values for the transport, the
# session, POP3 and OAuth; and, at the start of each send, what its connection is made with
# (prepare). One-time code: Client() and Client.prepare() import this module and unload it
# after, so that the send's peak does not hold code that ran before it began (32-bit: W1 and
# W2 -0.5 KiB). A CA file is named here and read at each send (mailer.tlsctx): its DER (1.4 KB
# for a common root) is not kept on the heap between sends.
from mailer.compat import const, deadline, once

# The EHLO name when smtp.ehlo_name is empty: a board has no domain of its own.
_EHLO_NAME = const("mailer.local")


def _account(group):
    # (user, password) as bytes, or (None, b"") for no AUTH.
    if not group or not group["user"]:
        return None, b""
    return group["user"].encode(), group["password"].encode()


def _tls_args(smtp, verify):
    # (verify, CA file, pin): transport.TlsConfig's arguments.
    return (verify, smtp["ca_file"] if verify == "ca" else None, smtp["pin_sha256"])


def client(client, cfg):
    """Set the fields of client (a Client) from the settings dict cfg."""
    smtp = cfg["smtp"]
    client.host = smtp["host"]
    client.port = smtp["port"]
    client.tls = smtp["tls"]
    client.timeout_ms = smtp["timeout_s"] * 1000
    # smtp.deadline_s, or three read time-outs: the whole send, POP before SMTP included.
    client.deadline_ms = (smtp["deadline_s"] or 3 * smtp["timeout_s"]) * 1000
    verify = "off" if client.tls == "off" else smtp["verify"]
    client.tls_args = _tls_args(smtp, verify)
    # XOAUTH2/OAUTHBEARER: (smtp.oauth2, the token endpoint's TlsConfig arguments). Its
    # certificate is checked as smtp.verify says (even with smtp.tls off: the refresh token
    # goes there), or against smtp.oauth2.ca_file when set.
    client.oauth = None
    if "XOAUTH2" in smtp["mechanisms"] or "OAUTHBEARER" in smtp["mechanisms"]:
        g = smtp["oauth2"]
        if g["ca_file"]:
            args = ("ca", g["ca_file"], None, "smtp.oauth2.ca_file")
        elif verify == smtp["verify"]:
            args = client.tls_args
        else:
            args = _tls_args(smtp, smtp["verify"])
        client.oauth = (g, args)
    auth = smtp["auth"]
    inc = cfg["incoming"]
    client.user, client.password = _account(
        inc if auth == "same_as_incoming" else smtp if auth == "log_on_using" else None
    )
    client.mechanisms = smtp["mechanisms"]
    client.allow_plain = smtp["allow_plain_password"]
    client.ehlo_name = (smtp["ehlo_name"] or _EHLO_NAME).encode()
    # The seed's POP before SMTP: a POP3 login first opens the SMTP server to this address.
    client.pop = None
    if auth == "pop_before_smtp":
        client.pop = (inc["host"], inc["port"], inc["tls"]) + _account(inc)


def prepare(self, log, messages):
    """Client.prepare(log, messages) of self (a Client): (deadline (compat.deadline),
    transport.TlsConfig, buffer) of a new send of messages, POP before SMTP done first when
    set: what a connection is made with, blocking (Client.session) or asyncio
    (mailer.aclient). buffer: the attachments' (Attachment.buffer()), or None."""
    import gc

    # The modules below load into a heap swept clean: less fragmentation (on the 32-bit port
    # one message then needs 2 KiB less heap, a 1 MiB attachment 4 KiB less).
    gc.collect()
    # The attachments' buffer (624 bytes, for every message of the send in turn) is made
    # first, while there are holes big enough for it: made when the body starts, in a heap
    # the handshake has broken up, it was what failed first (32-bit: -2 KiB).
    buf = None
    for m in messages:
        if m.attachments:
            buf = m.attachments[0].buffer()
            break
    # Then the TLS context (tlsctx.ahead), the send's largest piece, while a hole big
    # enough for it is still there (32-bit W1 -0.5 KiB), and the session's module, before
    # the connect loads mailer.dial: the modules that stay for the whole send go in low, next
    # to each other, and the one-time code above them leaves a hole the size of its own when
    # it goes (32-bit W1 -1 KiB).
    from mailer import transport

    tls_cfg = transport.TlsConfig(*self.tls_args)
    once("tlsctx", "ahead", tls_cfg, self.tls == "implicit")
    from mailer import session  # noqa: F401

    end = deadline(self.deadline_ms)
    # POP and OAuth by module and long names (a text over 10 characters is not interned): a
    # send that uses neither puts none of their names on the heap.
    if self.pop:
        once("pop3", "pop_before_smtp", self.pop, self.timeout_ms, end, tls_cfg, self.allow_plain, log)
    if self.oauth and not self.tokens:
        from mailer import oauth2

        self.tokens = oauth2.TokenSource(
            self.oauth[0],
            transport.TlsConfig(*self.oauth[1]),
            self.timeout_ms,
            self.deadline_ms,
            self.settings_path,
            log,
            (self.host, self.port),  # server
        )
    if self.tokens:
        self.tokens.log = log
    return end, tls_cfg, buf
