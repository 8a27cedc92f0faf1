# CRAM-MD5 (RFC 2195), apart from the codec: only a server that offers it, and settings that
# allow it, load this module.
import binascii
import hashlib

from mailer.codec import b64, unb64


def hmac_md5(key, msg):
    # RFC 2104; MicroPython has no hmac module.
    if len(key) > 64:
        key = hashlib.md5(key).digest()
    key = key + b"\0" * (64 - len(key))
    inner = hashlib.md5(bytes(k ^ 0x36 for k in key) + msg).digest()
    return hashlib.md5(bytes(k ^ 0x5C for k in key) + inner).digest()


def cram_md5(user, password, challenge_b64):
    # RFC 2195: "user hex(hmac_md5(password, challenge))", base64-encoded.
    digest = binascii.hexlify(hmac_md5(password, unb64(challenge_b64)))
    return b64(user + b" " + digest)
