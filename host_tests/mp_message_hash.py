# Runs on the MicroPython Unix port (and imports on CPython, for comparison): builds one fixed
# message with the attachment file `path` and prints, for what chunks() yields,
# "<size()> <length> <sha256 hex>". test_message_memory.py runs it under -X heapsize=...
import hashlib
from binascii import hexlify

from mailer.attach import Attachment
from mailer.message import Message


def build(path):
    # Fixed Date, Message-ID and boundary: the same bytes on every runtime.
    return Message(
        "Zoë Sensor <sensor@example.com>",
        ["Ops <ops@example.com>", "b@example.org"],
        subject="Rapport journalier — température de la chambre froide numéro 3",
        body="Bonjour,\n.\n..\n.x\nvoir la pièce jointe.\n",
        cc="c@example.net",
        bcc="audit@example.net",
        attachments=[Attachment(path=path, name="data.bin"), Attachment(data=b"\x00\xff" * 40, name="x")],
        date=(2026, 11, 29, 10, 0, 0),
        message_id="<1a2b.3c4d@mailer.local>",
        boundary="=_fixedboundary0123456789",
    )


def digest(msg, eightbit=False):
    h = hashlib.sha256()
    n = 0
    for chunk in msg.chunks(eightbit=eightbit):
        h.update(chunk)
        n += len(chunk)
    return "%d %d %s" % (msg.size(eightbit=eightbit), n, hexlify(h.digest()).decode())


def main(path, more=False):
    msg = build(path)
    print(digest(msg))
    if more:  # the 8BITMIME form, and the copy the outbox would keep on flash
        import json

        from mailer.outbox import from_dict, to_dict

        print(digest(msg, eightbit=True))
        print(digest(from_dict(json.loads(json.dumps(to_dict(msg))))))
