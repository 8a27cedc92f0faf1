# `make probe SETTINGS=file`: connect to the SMTP server as the settings say and print what a
# user needs to fix them (greeting, EHLO before and after TLS, TLS version and cipher, the
# certificate's subject, issuer, dates and SHA-256 for smtp.pin_sha256, AUTH mechanisms), each
# step with the device code it fails with. Runs mailer.probe, the same code a board runs
# (`from mailer import probe, settings; probe.run(settings.load())`), here on CPython, where
# TLS version and cipher are known (MicroPython's ssl does not tell them).
# Exit status: 0 when a send would get through to MAIL, 75 worth retrying, 1 permanent.
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "firmware"), ROOT]
from mailer import probe, settings  # noqa: E402
from mailer.errors import MailError  # noqa: E402

from tools.settings import ca_on_host  # noqa: E402


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: probe.py SETTINGS.json", file=sys.stderr)
        return 2
    path = argv[0]
    try:
        cfg = settings.load(path)
    except MailError as e:
        print(e.line())
        return 1
    ca = ca_on_host(path, cfg)  # a relative smtp.ca_file is beside the settings file
    if ca:
        cfg["smtp"]["ca_file"] = ca
    err = probe.run(cfg)
    return 0 if err is None else 75 if err.retry else 1


if __name__ == "__main__":
    sys.exit(main())
