# Test certificates made at start-up (CPython, `cryptography`): a CA, the server certificate it
# signs, and variants that must fail verification, for the dev server and the Unix-port tests.
# EC P-256 keys: fast to make, and Mbed TLS 3.6 (MicroPython's ssl) verifies ECDSA chains.
import datetime
import hashlib
import ipaddress
import os
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Server certificate variants: name -> (subject name, signed by the CA?, valid now?).
# "server" verifies; the others fail as #863 (wrong name, expired, unknown issuer).
SERVER_VARIANTS = {
    "server": (None, True, True),
    "wrongname": ("wrong.example", True, True),
    "expired": (None, True, False),
    "selfsigned": (None, False, True),
}


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject, key, issuer, issuer_key, start, days, ca=False, san=None, usage=None):
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        # Python 3.13's default verification (VERIFY_X509_STRICT) wants the key identifiers.
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    else:
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False)
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def _write_pair(dirpath, stem, cert, key):
    pem = _write(os.path.join(dirpath, stem + ".pem"), cert.public_bytes(serialization.Encoding.PEM))
    k = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, _write(os.path.join(dirpath, stem + ".key"), k)


def make_certs(dirpath, hostname="localhost", ip="127.0.0.1"):
    """Write the CA, server certificates and a client CA into dirpath (created if needed).

    Returns a dict of paths: ca_pem, ca_der, server_pem, server_key, wrongname_pem/_key,
    expired_pem/_key, selfsigned_pem/_key, client_ca_pem, client_pem, client_key; and for each
    server variant "<name>_sha256", the lowercase hex SHA-256 of its DER (what a pin holds).
    """
    os.makedirs(dirpath, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    yesterday = now - datetime.timedelta(days=1)
    out = {"dir": dirpath}

    ca_key = _key()
    ca = _cert("mailer test CA", ca_key, "mailer test CA", ca_key, yesterday, 30, ca=True)
    out["ca_pem"] = _write(os.path.join(dirpath, "ca.pem"), ca.public_bytes(serialization.Encoding.PEM))
    # MicroPython's ssl takes only DER in load_verify_locations(cadata=...).
    out["ca_der"] = _write(os.path.join(dirpath, "ca.der"), ca.public_bytes(serialization.Encoding.DER))

    for stem, (cn, by_ca, valid) in SERVER_VARIANTS.items():
        key = _key()
        cn = cn or hostname
        san = [x509.DNSName(cn)]
        if cn == hostname and ip:
            san.append(x509.IPAddress(ipaddress.ip_address(ip)))
        start = yesterday if valid else now - datetime.timedelta(days=60)
        issuer, issuer_key = ("mailer test CA", ca_key) if by_ca else (cn, key)
        cert = _cert(cn, key, issuer, issuer_key, start, 30, san=san, usage=ExtendedKeyUsageOID.SERVER_AUTH)
        out[stem + "_pem"], out[stem + "_key"] = _write_pair(dirpath, stem, cert, key)
        der = cert.public_bytes(serialization.Encoding.DER)
        out[stem + "_sha256"] = hashlib.sha256(der).hexdigest()

    # A separate CA for client certificates (servers that demand one: #842 tests).
    cca_key = _key()
    cca = _cert("mailer client CA", cca_key, "mailer client CA", cca_key, yesterday, 30, ca=True)
    out["client_ca_pem"] = _write(os.path.join(dirpath, "client_ca.pem"), cca.public_bytes(serialization.Encoding.PEM))
    ckey = _key()
    client = _cert(
        "mailer device",
        ckey,
        "mailer client CA",
        cca_key,
        yesterday,
        30,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    out["client_pem"], out["client_key"] = _write_pair(dirpath, "client", client, ckey)
    return out


def kept_or_made(dirpath, min_days=2):
    """make_certs()'s dict for dirpath, made anew only when a file is missing or the CA or the
    server certificate expires within min_days: a CA or a pin copied once stays valid across
    restarts. Returns (certs, made) with made True when new ones were written."""
    names = ["ca.pem", "ca.der", "client_ca.pem", "client.pem", "client.key"]
    names += [stem + ext for stem in SERVER_VARIANTS for ext in (".pem", ".key")]
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=min_days)
    try:
        for n in names:
            with open(os.path.join(dirpath, n), "rb"):
                pass
        for n in ("ca.pem", "server.pem"):
            with open(os.path.join(dirpath, n), "rb") as f:
                if x509.load_pem_x509_certificate(f.read()).not_valid_after_utc < soon:
                    raise ValueError(n + " expires soon")
    except (OSError, ValueError):
        return make_certs(dirpath), True
    out = {
        "dir": dirpath,
        "ca_pem": os.path.join(dirpath, "ca.pem"),
        "ca_der": os.path.join(dirpath, "ca.der"),
        "client_ca_pem": os.path.join(dirpath, "client_ca.pem"),
        "client_pem": os.path.join(dirpath, "client.pem"),
        "client_key": os.path.join(dirpath, "client.key"),
    }
    for stem in SERVER_VARIANTS:
        out[stem + "_pem"] = os.path.join(dirpath, stem + ".pem")
        out[stem + "_key"] = os.path.join(dirpath, stem + ".key")
        with open(out[stem + "_pem"], "rb") as f:
            der = x509.load_pem_x509_certificate(f.read()).public_bytes(serialization.Encoding.DER)
        out[stem + "_sha256"] = hashlib.sha256(der).hexdigest()
    return out, False


def server_context(certs, variant="server", client_ca=False):
    """A server-side ssl.SSLContext presenting one certificate variant; with client_ca, the
    handshake demands a client certificate signed by the client CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs[variant + "_pem"], certs[variant + "_key"])
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(certs["client_ca_pem"])
    return ctx
