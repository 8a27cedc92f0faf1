# The settings resolved for sending, once (as mqtt_as copies its config once): what
# mailer.client.Client keeps of a loaded settings dict, as plain values for the transport, the
# session, POP3 and OAuth. One-time code: Client() imports this module and unloads it after.
# A CA file is named here and read at each send (mailer.tlsctx): its DER (1.4 KB for a
# common root) is not kept on the heap between sends.
from mailer.compat import const

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
