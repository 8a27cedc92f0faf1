# The README's code runs as it is written: section 5's examples, verbatim, on the Unix port in a
# folder that holds a settings.json for the dev server: the blocking one sends its message with
# both attachments, the asyncio one its short message.
import email
import email.policy
import json
import os

import mpy
from conftest import SMTP_PASSWORD, SMTP_USER


def readme_block(section):
    with open(os.path.join(mpy.ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    body = text[text.index(section) :]
    start = body.index("```python\n") + len("```python\n")
    return body[start : body.index("```", start)]


def write_settings(smtpd, tmp_path):
    cfg = {
        "incoming": {"user": SMTP_USER, "password": SMTP_PASSWORD},
        "smtp": {"host": "localhost", "port": smtpd.port, "ca_file": smtpd.certs["ca_der"]},
        "mail": {"from": SMTP_USER},
    }
    (tmp_path / "settings.json").write_text(json.dumps(cfg))


def test_section_5_example_sends_as_written(smtpd, tmp_path):
    write_settings(smtpd, tmp_path)
    code = readme_block("## 5. Sending from your code")
    r = mpy.run(["-c", code], cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("sent <"), r.stdout
    (m,) = smtpd.messages
    assert sorted(m["rcpt_tos"]) == ["archive@example.com", "lead@example.com", "ops@example.com", "zoe@example.com"]
    msg = email.message_from_bytes(m["content"], policy=email.policy.default)
    assert msg["Subject"] == "Nightly report – Ünit 7" and "Bcc" not in msg
    names = [p.get_filename() for p in msg.iter_attachments()]
    assert names == ["log.csv", "raw.bin"]


def test_section_5_asyncio_example_sends_as_written(smtpd, tmp_path):
    write_settings(smtpd, tmp_path)
    r = mpy.run(["-c", readme_block("### With asyncio")], cwd=str(tmp_path))
    assert r.returncode == 0 and r.stdout.startswith("sent <"), r.stdout + r.stderr
    (m,) = smtpd.messages
    assert m["rcpt_tos"] == ["ops@example.com"] and m["tls_version"] and b"Subject: Door" in m["content"]
