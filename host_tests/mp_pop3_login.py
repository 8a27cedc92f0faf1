# Runs on the MicroPython Unix port and on CPython: POP before SMTP as mailer.client.Client
# does it, with the settings read as JSON from stdin. Client.session() logs in to the POP3
# server first, then connects to smtp.host:smtp.port, where nothing listens: that refusal
# (#801 naming the SMTP port) means the POP3 part went through, and prints "ok". Any other
# MailError prints "<code> <retry> <error line>"; settings the schema refuses, "bad <problem>".
# (Not argv: the Unix port dies with "FATAL: uncaught NLR" on an argument over 255 bytes.)
import json
import sys

from mailer import schema
from mailer.client import Client
from mailer.codes import COMM
from mailer.errors import MailError


def main(cfg_json):
    d, bad = schema.build(json.loads(cfg_json))
    if bad:
        return "bad " + bad[0]
    smtp = "%s:%d refused" % (d["smtp"]["host"], d["smtp"]["port"])
    try:
        Client(d).session().conn.close()
        return "SMTP port open: the test needs a closed one"
    except MailError as e:
        if e.code == COMM and smtp in e.detail:
            return "ok"
        return "%d %s %s" % (e.code, e.retry, e.line())


if __name__ == "__main__":
    print(main(sys.stdin.read()))
