# Runs ON THE MICROPYTHON UNIX PORT (host_tests/test_oauth2_send.py): a rotated OAuth refresh
# token saved by TokenSource.keep(), cut by a power failure after every possible number of block
# writes, on the filesystem argv[1] names ("lfs2" or "fat"). Each result is the refresh token
# that settings.load() finds after the cut, as "old" or "new", or what went wrong: never none.
import sys

from mailer import settings, transport
from mailer.oauth2 import TokenSource
from powercut_rig import sweep

OLD, NEW = "rt-old-one-shot", "rt-new-one-shot"


def cfg(rt):
    return {
        "version": 1,
        "smtp": {
            "host": "smtp.office365.com",
            "auth": "log_on_using",
            "user": "board@example.com",
            "mechanisms": ["XOAUTH2"],
            "oauth2": {"token_url": "https://login.example.com/t/token", "client_id": "app", "refresh_token": rt},
        },
        "mail": {"from": "board@example.com"},
    }


def setup(root):
    settings.save(cfg("rt-older"), root + "/settings.json")
    settings.save(cfg(OLD), root + "/settings.json")
    return "ok"


def op(root):
    d = settings.load(root + "/settings.json")
    src = TokenSource(d["smtp"]["oauth2"], transport.TlsConfig("off"), 1000, 1000, root + "/settings.json")
    src.keep(NEW)
    return "ok"


def check(root):
    rt = settings.load(root + "/settings.json")["smtp"]["oauth2"]["refresh_token"]
    return {OLD: "old", NEW: "new"}.get(rt, "other: " + rt)


sweep(setup, op, check, fs=sys.argv[1])
