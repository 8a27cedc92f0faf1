# Runs ON THE MICROPYTHON UNIX PORT (started by `make send` and `make demo`, with firmware/ and
# the simulated board's tools/simboard_path/ on MICROPYPATH): the firmware as a simulated board
# sends one message with a settings file.
# Arguments are name=value pairs: settings= to= [cc=] [bcc=] [subject=] [body=] [attach=a,b]
# [boards=dir] [display=dump file] [verbose=1]. The last line printed is "sent <Message-ID>" or the device code,
# its meaning and the server's reply; the exit status is 0 only when the message was accepted.
import sys

from mailer import board, client, settings
from mailer.errors import INTERNAL, MailError
from mailer.attach import Attachment
from mailer.message import Message


def _args(argv):
    out = {"subject": "Test from mailer", "body": "Sent by the mailer firmware.\n", "boards": "boards"}
    for a in argv:
        k, _, v = a.partition("=")
        out[k] = v
    return out


def _list(v):
    return [x.strip() for x in (v or "").split(",") if x.strip()]


def main(argv):
    a = _args(argv)
    status = None
    try:
        cfg = settings.load(a.get("settings", "settings.json"))
        b = board.load_board(cfg["board"], a["boards"])
        if a.get("display"):
            import ssd1306  # the simulated board's: its frames go to this file, for the demo

            ssd1306.dump = a["display"]
        status = board.make_status(b, out=lambda line: print("[status] " + line))
        status.busy()
        mail = cfg["mail"]
        msg = Message(
            mail["from"],
            _list(a.get("to")) or mail["to"],
            subject=(mail.get("subject_prefix") or "") + a["subject"],
            body=a["body"],
            cc=_list(a.get("cc")),
            bcc=_list(a.get("bcc")),
            attachments=[Attachment(path=p) for p in _list(a.get("attach"))],
        )
        log = print if a.get("verbose") else None
        res = client.deliver(cfg, [msg], log=log)[0]
    except MailError as e:
        res = client.Result("", error=e)
    except Exception as e:  # the board never dies with a traceback: it shows #869
        res = client.Result("", error=MailError(INTERNAL, repr(e)))
    for addr, line in res.refused:
        print("refused %s: %s" % (addr.decode(), line))
    if status:
        if res.ok:
            status.sent(res.message_id)
        else:
            status.error(res.error.code, res.error.detail, res.error.reply)
    print(res.line())
    # 0 sent; 75 (EX_TEMPFAIL, as sendmail and msmtp use it) worth retrying; 1 permanent.
    return 0 if res.ok else (75 if res.error.retry else 1)


sys.exit(main(sys.argv[1:]))
