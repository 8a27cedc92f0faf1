# Runs ON THE MICROPYTHON UNIX PORT (started by `make send` and `make demo`, with firmware/ and
# the simulated board's tools/simboard_path/ on MICROPYPATH): the firmware as a simulated board
# sends one message with a settings file.
# Its one argument is request=PATH: a JSON file (tools/send.py writes it) with settings, to, cc,
# bcc, attach (lists), subject, body, boards, display (a dump file, for the demo), verbose,
# asyncio (true: the awaitable send, mailer.aclient.adeliver, with a ticker task beside it).
# Values never travel on the command line: the port crashes on an argument of 256 bytes or more.
# The last line printed is "sent <Message-ID>" or the device code, its meaning and the server's
# reply; the exit status is 0 only when the message was accepted for every recipient (some
# refused for good, 5xx: still 0; some deferred, 4xx: 75).
import json
import sys

from mailer import board, client, settings
from mailer.codes import INTERNAL, SETTINGS
from mailer.errors import MailError
from mailer.attach import Attachment
from mailer.message import Message


def _args(argv):
    out = {
        "subject": "Test from mailer",
        "body": "Sent by the mailer firmware.\n",
        "boards": "boards",
        "to": [],
        "cc": [],
        "bcc": [],
        "attach": [],
    }
    if len(argv) != 1 or argv[0][:8] != "request=":
        raise MailError(SETTINGS, "usage: mp_send.py request=PATH (tools/send.py writes it)")
    with open(argv[0][8:]) as f:
        out.update(json.load(f))
    return out


def _adeliver(cfg, msg, log, path):
    # The awaitable send beside a 10 ms ticker task: "ticks N" tells that the loop kept running.
    import asyncio

    from mailer import aclient

    ticks = [0]

    async def ticker():
        while True:
            await asyncio.sleep_ms(10)
            ticks[0] += 1

    async def both():
        t = asyncio.create_task(ticker())
        res = await aclient.adeliver(cfg, [msg], log, path)
        t.cancel()
        return res[0]

    res = asyncio.run(both())
    print("ticks %d" % ticks[0])
    return res


def main(argv):
    status = None
    try:
        a = _args(argv)
        path = a.get("settings", "settings.json")
        cfg = settings.load(path)
        # A relative smtp.ca_file is beside the settings file, as on a board (whose current
        # folder holds settings.json) and for make probe, make deploy and tools.settings.
        ca = cfg["smtp"]["ca_file"]
        if ca and ca[0] != "/" and "/" in path:
            cfg["smtp"]["ca_file"] = path[: path.rfind("/") + 1] + ca
        b = board.load_board(cfg["board"], a["boards"])
        if a.get("display"):
            import ssd1306  # the simulated board's: its frames go to this file, for the demo

            ssd1306.dump = a["display"]
        status = board.make_status(b, out=lambda line: print("[status] " + line))
        status.busy()
        mail = cfg["mail"]
        msg = Message(
            mail["from"],
            a["to"] or mail["to"],
            subject=(mail.get("subject_prefix") or "") + a["subject"],
            body=a["body"],
            cc=a["cc"],
            bcc=a["bcc"],
            attachments=[Attachment(path=p) for p in a["attach"]],
        )
        log = print if a.get("verbose") else None
        if a.get("asyncio"):
            res = _adeliver(cfg, msg, log, path)
        else:
            # The path: where a rotated OAuth refresh token is saved.
            res = client.deliver(cfg, [msg], log=log, settings_path=path)[0]
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
