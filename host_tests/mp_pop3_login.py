# Runs on the MicroPython Unix port and on CPython: POP before SMTP with the settings read as
# JSON from stdin; prints "ok", or "<code> <retry> <error line>" for a MailError.
# (Not argv: the Unix port dies with "FATAL: uncaught NLR" on an argument over 255 bytes.)
import json
import sys

from mailer import pop3
from mailer.compat import Deadline
from mailer.errors import MailError


def main(cfg_json):
    try:
        pop3.pop_before_smtp(json.loads(cfg_json), Deadline(10000))
    except MailError as e:
        return "%d %s %s" % (e.code, e.retry, e.line())
    return "ok"


if __name__ == "__main__":
    print(main(sys.stdin.read()))
