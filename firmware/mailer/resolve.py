# The settings resolved for sending, once (as mqtt_as copies its config once): what
# mailer.client.Client keeps of a loaded settings dict, as plain values for the transport, the
# session, POP3 and OAuth. One-time code: Client() imports this module and unloads it after.
import binascii

from mailer.errors import SETTINGS, MailError

# The EHLO name when smtp.ehlo_name is empty: a board has no domain of its own.
EHLO_NAME = "mailer.local"


def load_ca(path, name="smtp.ca_file"):
    """The CA certificate file `name` (a settings key) names, as DER."""
    # Mbed TLS takes DER only; accept PEM too by decoding the base64 body.
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        raise MailError(SETTINGS, name + ": cannot read " + path) from None
    if data[:10] == b"-----BEGIN":
        body = b"".join(ln for ln in data.split(b"\n") if ln and ln[:5] != b"-----")
        data = binascii.a2b_base64(body)
    return data


def _account(group):
    # (user, password) as bytes, or (None, b"") for no AUTH.
    if not group or not group["user"]:
        return None, b""
    return group["user"].encode(), group["password"].encode()


def _tls_args(smtp, verify):
    # (verify, CA DER, pin): transport.TlsConfig's arguments.
    return (verify, load_ca(smtp["ca_file"]) if verify == "ca" else None, smtp["pin_sha256"])


def client(c, cfg):
    """Set Client c's fields from the settings dict cfg."""
    smtp = cfg["smtp"]
    c.host = smtp["host"]
    c.port = smtp["port"]
    c.tls = smtp["tls"]
    c.timeout_ms = smtp["timeout_s"] * 1000
    # smtp.deadline_s, or three read time-outs: the whole send, POP before SMTP included.
    c.deadline_ms = (smtp["deadline_s"] or 3 * smtp["timeout_s"]) * 1000
    verify = "off" if c.tls == "off" else smtp["verify"]
    c.tls_args = _tls_args(smtp, verify)
    # XOAUTH2/OAUTHBEARER: (smtp.oauth2, the token endpoint's TlsConfig arguments). Its
    # certificate is checked as smtp.verify says (even with smtp.tls off: the refresh token
    # goes there), or against smtp.oauth2.ca_file when set.
    c.oauth = None
    if "XOAUTH2" in smtp["mechanisms"] or "OAUTHBEARER" in smtp["mechanisms"]:
        g = smtp["oauth2"]
        if g["ca_file"]:
            args = ("ca", load_ca(g["ca_file"], "smtp.oauth2.ca_file"), None)
        elif verify == smtp["verify"]:
            args = c.tls_args
        else:
            args = _tls_args(smtp, smtp["verify"])
        c.oauth = (g, args)
    auth = smtp["auth"]
    inc = cfg["incoming"]
    c.user, c.password = _account(inc if auth == "same_as_incoming" else smtp if auth == "log_on_using" else None)
    c.mechanisms = smtp["mechanisms"]
    c.allow_plain = smtp["allow_plain_password"]
    c.ehlo_name = (smtp["ehlo_name"] or EHLO_NAME).encode()
    # The seed's POP before SMTP: a POP3 login first opens the SMTP server to this address.
    c.pop = None
    if auth == "pop_before_smtp":
        c.pop = (inc["host"], inc["port"], inc["tls"]) + _account(inc)
