# The reference client for bench/run.py: CPython's smtplib + email on the same work as
# bench/mp_work.py, written as a user would (STARTTLS with the CA verified, login(),
# send_message(), quit() on leaving the with block). Same stdin/stdout protocol:
#   W1 PORT | W2 PORT PATH | W3 PORT   ->   "ok MS 0 0" or "err TEXT"
# argv: CA_PEM USER PASSWORD FROM TO
import os
import smtplib
import ssl
import sys
import time
from email.message import EmailMessage

BODY = "Hello from the bench.\nA short text message, one recipient.\n"


def messages(item, path, sender, to):
    out = []
    for i in range(20 if item == "W3" else 1):
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = sender, to, "bench %s %d" % (item, i)
        m.set_content(BODY)
        if path:
            with open(path, "rb") as f:
                m.add_attachment(
                    f.read(), maintype="application", subtype="octet-stream", filename=os.path.basename(path)
                )
        out.append(m)
    return out


def run(line, ca, user, password, sender, to):
    words = line.split()
    item, port = words[0], int(words[1])
    path = words[2] if item == "W2" else None
    t0 = time.perf_counter()
    msgs = messages(item, path, sender, to)
    ctx = ssl.create_default_context(cafile=ca)
    with smtplib.SMTP("localhost", port, timeout=10) as s:
        s.starttls(context=ctx)
        s.login(user, password)
        for m in msgs:
            s.send_message(m)
    return "ok %.3f 0 0" % ((time.perf_counter() - t0) * 1000)


def main():
    ca, user, password, sender, to = sys.argv[1:6]
    for line in sys.stdin:
        if not line.strip():
            return
        try:
            out = run(line, ca, user, password, sender, to)
        except (OSError, smtplib.SMTPException) as e:
            out = "err %r" % (e,)
        print(out, flush=True)


main()
