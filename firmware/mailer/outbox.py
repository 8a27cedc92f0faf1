# The outbox on flash (README, "The outbox"): every message send() accepts is on flash before
# send() returns, and stays there until the server took it (removed) or refused it for good
# (moved to failed/ with its code and reply). Nothing accepted is ever dropped to make room: a
# full outbox refuses the new message with #865.
#
# One message is two files under root/, named by a sequence number (the order of acceptance).
# Each is a record: the CRC-32 of its JSON as 8 hex digits and a space, then the JSON; a record
# that fails the check (junk appended, a torn write, a flipped bit) is never delivered.
#   NNNNNNNN.msg  Message.to_dict() as JSON, written once (flashfile.write_atomic onto a new
#                 name, so a cut leaves the whole file or only NNNNNNNN.msg.tmp, on LittleFS
#                 and on FAT alike) and never rewritten: the same Date, Message-ID and bytes on
#                 every attempt.
#   NNNNNNNN.try  attempts, next try (time.time() of the board), last code, reply, detail,
#                 and after a partial delivery "due": the recipients still to be sent to (the
#                 ones the server deferred with a 4xx; a retry goes to them only, RFC 5321
#                 4.2.1); rewritten after each failed attempt. Losing it (a cut on FAT, where a
#                 rename over a file removes the target first) makes the next try come sooner
#                 and, after a partial delivery, go to every recipient again: duplicates, no loss.
# A retried message keeps its Message-ID: when a server took the data but its reply after the
# final "." never came (RFC 5321 4.1.1.4 leaves that open, and 6.1 puts duplicates over losses),
# the recipient may get it twice, and the same Message-ID lets mail software see the duplicate.
import json
import os
import time
from binascii import a2b_base64, b2a_base64, crc32

from mailer.client import Result
from mailer.compat import const
from mailer.errors import MailError
from mailer.flashfile import exists, make_dir, remove, write_atomic
from mailer.message import Message

# Device error codes (mailer.codes; README, "Device error codes").
_SETTINGS = const(861)  # settings invalid / bad input
_OUTBOX_FULL = const(865)  # outbox full
_INTERNAL = const(869)  # internal error

BATCH = const(4)  # messages per delivery round (one SMTP session; each is loaded into RAM)


def to_dict(msg):
    """msg (a Message) as JSON-able data: from_dict() gives back the same bytes (the same Date,
    Message-ID and boundary), so a retry is the same message."""
    atts = []
    for a in msg.attachments:
        d = {"name": a.name, "type": a.mime_type}
        if a.path is None:
            d["data"] = b2a_base64(a.data, newline=False).decode()
        else:
            d["path"] = a.path
        atts.append(d)
    sender, to, cc, bcc = msg.given
    return {
        "from": sender,
        "to": to,
        "cc": cc,
        "bcc": bcc,
        "subject": msg.subject,
        "body": msg.body.decode(),
        "attachments": atts,
        "date": list(msg.date),
        "message_id": msg.message_id,
        "boundary": msg.boundary,
    }


def from_dict(d):
    """The Message to_dict() made d from; #861 for data that is not one."""
    try:
        atts = []
        if d["attachments"]:
            from mailer.attach import Attachment

            atts = [
                Attachment(
                    path=a.get("path"),
                    name=a["name"],
                    mime_type=a["type"],
                    data=a2b_base64(a["data"]) if "data" in a else None,
                )
                for a in d["attachments"]
            ]
        return Message(
            d["from"],
            d["to"],
            d["subject"],
            d["body"],
            d["cc"],
            d["bcc"],
            atts,
            d["date"],
            d["message_id"],
            boundary=d["boundary"],
        )
    except (KeyError, TypeError, ValueError) as e:
        raise MailError(_SETTINGS, "stored message: %r" % (e,)) from None


def _pack(obj):
    body = json.dumps(obj).encode()
    return b"%08x " % crc32(body) + body


def _unpack(path):
    # The JSON of a record written by _pack(); ValueError when its checksum does not match.
    with open(path, "rb") as f:
        head = f.read(9)
        body = f.read()
    if head[8:] != b" " or head[:8] != b"%08x" % crc32(body):
        raise ValueError("checksum mismatch")
    return json.loads(body)


class Outbox:
    # root: folder on flash; limits: the settings' outbox group (max_messages, max_bytes,
    # retry_base_s, retry_max_s); clock: seconds, time.time on the board.
    def __init__(self, root, limits, clock=time.time):
        self.root = root
        self.failed_dir = root + "/failed"
        self.limits = limits
        self.clock = clock
        make_dir(root)
        make_dir(self.failed_dir)
        self._recover()

    def _path(self, name, ext, failed=False):
        return "%s/%s.%s" % (self.failed_dir if failed else self.root, name, ext)

    def names(self, failed=False):
        """Sequence names of the queued (or failed) messages, oldest first."""
        d = self.failed_dir if failed else self.root
        return sorted(n[:-4] for n in os.listdir(d) if n.endswith(".msg"))

    def _recover(self):
        # Finish or undo what a power cut interrupted. A .tmp is a message send() never
        # accepted, or a state update that did not happen; a failed/ state beside a queued
        # .msg is a move aside to finish; any other .try without its .msg is from a removal.
        queued = self.names()
        for n in os.listdir(self.failed_dir):
            base = n[: n.find(".")]
            if n.endswith(".try") and base in queued:
                os.rename(self._path(base, "msg"), self._path(base, "msg", True))
            elif n.endswith(".tmp") or (n.endswith(".try") and not exists(self._path(base, "msg", True))):
                os.remove(self.failed_dir + "/" + n)
        queued = self.names()
        for n in os.listdir(self.root):
            if n.endswith(".tmp") or (n.endswith(".try") and n[:-4] not in queued):
                os.remove(self.root + "/" + n)
        seq = [int(n) for n in queued + self.names(True)]
        self.seq = max(seq) if seq else 0

    def used(self):
        """(messages, bytes) queued."""
        names = self.names()
        return len(names), sum(os.stat(self._path(n, "msg"))[6] for n in names)

    def add(self, msg):
        """Put msg (a Message) on flash; returns its name. A full outbox: MailError #865."""
        data = _pack(to_dict(msg))
        count, size = self.used()
        lim = self.limits
        if count >= lim["max_messages"] or size + len(data) > lim["max_bytes"]:
            raise MailError(_OUTBOX_FULL, "%d messages, %d bytes queued; this one %d bytes" % (count, size, len(data)))
        self.seq += 1
        name = "%08d" % self.seq
        write_atomic(self._path(name, "msg"), data)
        return name

    def state(self, name, failed=False):
        """{"attempts", "next", "code", "reply", "detail"} of a message (attempts 0: none yet),
        with "due" (the recipients still to be sent to) after a partial delivery."""
        try:
            st = _unpack(self._path(name, "try", failed))
        except (OSError, ValueError):
            st = None
        if not isinstance(st, dict) or type(st.get("attempts")) is not int or type(st.get("next")) is not int:
            return {"attempts": 0, "next": 0}
        return st

    def message(self, name, failed=False):
        """The stored Message, its recipients limited to the ones still due."""
        msg = from_dict(_unpack(self._path(name, "msg", failed)))
        due = self.state(name, failed).get("due")
        if due and isinstance(due, list):
            msg.due = [str(a).encode() for a in due]
        return msg

    def due(self, first=None):
        """Names to try now, oldest first (first, if given, goes first), at most BATCH."""
        now = int(self.clock())
        out = [first] if first else []
        for n in self.names():
            if len(out) >= BATCH:
                break
            wait = self.state(n)["next"] - now
            # A wait longer than the longest backoff means the clock moved (set by NTP after
            # a reboot): try now rather than in decades.
            if n != first and (wait <= 0 or wait > self.limits["retry_max_s"]):
                out.append(n)
        return out

    def next_due(self):
        """Seconds until the next queued message is due (0: now), or None when empty."""
        now = int(self.clock())
        waits = [max(0, self.state(n)["next"] - now) for n in self.names()]
        return min(waits) if waits else None

    def deliver(self, send, first=None):
        """One delivery round: send(messages) -> [Result] (client.deliver with the settings
        bound) for the due messages; returns [(name, Result)]. Delivered ones are removed,
        temporary failures wait (capped exponential backoff with jitter), permanent ones go
        to failed/. The asyncio drain (mailer.aapp) makes the same round of begin() and settle()
        around an awaited send."""
        names, msgs, out = self.begin(first)
        return self.settle(names, send(msgs) if msgs else [], out)

    def begin(self, first=None):
        """A round's first half: (names, messages) of the due ones that load, and [(name,
        Result)] of those that do not (moved to failed/)."""
        names, msgs, out = [], [], []
        for n in self.due(first):
            try:
                msgs.append(self.message(n))
                names.append(n)
            except (OSError, ValueError, MailError) as e:
                err = e if isinstance(e, MailError) else MailError(_INTERNAL, "stored message: %r" % (e,), retry=False)
                self._fail(n, err)
                out.append((n, Result("", error=err)))
        return names, msgs, out

    def settle(self, names, results, out):
        """A round's second half: each message as its Result says (removed, later, failed/);
        returns out with (name, Result) added."""
        for n, r in zip(names, results):
            if r.ok:
                os.remove(self._path(n, "msg"))
                remove(self._path(n, "try"))
            elif r.error.retry:
                # Some recipients deferred (the others have it): from now on only they are due.
                self._later(n, r.error, [a.decode() for a, _ in r.deferred])
            else:
                self._fail(n, r.error)
            out.append((n, r))
        return out

    def _record(self, st, err):
        st["code"], st["reply"], st["detail"] = err.code, err.reply, err.detail
        return _pack(st)

    def _later(self, name, err, due):
        st = self.state(name)
        if due:
            st["due"] = due
        st["attempts"] += 1
        lim = self.limits
        delay = min(lim["retry_max_s"], lim["retry_base_s"] << min(st["attempts"] - 1, 20))
        # Half fixed, half random ("equal jitter"): boards that lost the server together do
        # not all come back in the same second.
        half = delay // 2
        st["next"] = int(self.clock()) + delay - half + int.from_bytes(os.urandom(2), "big") % (half + 1)
        write_atomic(self._path(name, "try"), self._record(st, err))

    def _fail(self, name, err):
        # The state goes to failed/ first: with it there, _recover() completes the move.
        st = self.state(name)
        write_atomic(self._path(name, "try", True), self._record(st, err))
        os.rename(self._path(name, "msg"), self._path(name, "msg", True))
        remove(self._path(name, "try"))
        # failed/ keeps the last max_messages: what the user has not looked at for that long
        # was shown on the status sink when it failed.
        old = self.names(True)
        for n in old[: max(0, len(old) - self.limits["max_messages"])]:
            os.remove(self._path(n, "msg", True))
            remove(self._path(n, "try", True))
