# An e-mail message (RFC 5322, MIME RFC 2045/2046) as a stream of byte chunks: the header block
# made by mailer.mime when the message is made, a UTF-8 text body and attachments read from
# flash and base64-encoded a chunk at a time, so RAM use does not grow with the attachments.
# Its exact size is known before sending. What runs while it is sent is here; the checks and
# the composing (mailer.mime) leave the heap once the message is made.
from mailer.compat import const, unload

# The chunks of a text-only message are at least this long (fewer writes), except the last one.
_CHUNK = const(512)
_SETTINGS = const(861)  # device error code: settings invalid / bad input (mailer.codes)


class Message:
    """One e-mail. Addresses are "Name <a@b>" or "a@b" (the name may be non-ASCII); to, cc and
    bcc a str or a list. body: str or bytes (UTF-8), or a list of them, joined once here: a
    generator cannot be read twice (size, then chunks), and a body too large for RAM belongs in
    an attachment file. date: a time tuple as time.gmtime() gives, or seconds on the board's
    own epoch; None means now, refused with #843 when the clock was never set."""

    def __init__(
        self, sender, to, subject="", body="", cc=(), bcc=(), attachments=(), date=None, message_id=None, boundary=None
    ):
        from mailer import mime

        try:
            mime.build(self, sender, to, subject, body, cc, bcc, attachments, date, message_id, boundary)
        finally:
            unload("mime")
        # The envelope addresses still to be sent to (bytes), None for all: after a partial
        # delivery the outbox sets the deferred ones (RFC 5321 3.3: only they are retried).
        self.due = None

    def recipients(self):
        # The envelope: To, Cc and Bcc, each address once (compared without case), or of
        # those only the ones still due.
        out, seen = [], []
        for _, a in self.to + self.cc + self.bcc:
            if a.lower() not in seen and (self.due is None or a.encode() in self.due):
                seen.append(a.lower())
                out.append(a.encode())
        return out

    def check_addresses(self, smtputf8):
        # RFC 6531: a non-ASCII address can only go to a server that offers SMTPUTF8.
        if self.utf8 and not smtputf8:
            from mailer.errors import MailError

            raise MailError(_SETTINGS, "address not ASCII: " + self.utf8[0])

    def chunks(self, eightbit=False, smtputf8=False, buf=None):
        # Byte chunks making up the message: CRLF line ends, lines of at most 998 octets, not
        # dot-stuffed (the session does that). eightbit: the server takes BODY=8BITMIME.
        # bytes or bytearray. Attachments are encoded through buf (the send's, from
        # Attachment.buffer(): a chunk may then be that buffer, as it is only until the next
        # one is taken), or None: each chunk a buffer of its own.
        self.check_addresses(smtputf8)
        if self.attachments:
            # Part by part: the headers and the text before an attachment are short, and each
            # attachment chunk is a full buffer already. Joining the first ones (600-odd bytes
            # in one piece, just as the body starts) was what failed first (32-bit W2 -3 KiB);
            # the parts' own generator, with no other around it (one piece fewer on the heap).
            return self._parts(eightbit, buf)
        return self._joined(eightbit, buf)

    def _joined(self, eightbit, buf):
        # A text-only message's parts, joined into chunks of at least _CHUNK octets.
        pend, n = [], 0
        for p in self._parts(eightbit, buf):
            pend.append(p)
            n += len(p)
            if n >= _CHUNK:
                yield pend[0] if len(pend) == 1 else b"".join(pend)
                pend, n = [], 0
        # The last, shorter piece goes as the parts it is made of (for a short message: its
        # header block, the text part's header, its lines): one more write each, but no copy
        # of the whole tail at the moment the heap is fullest (32-bit W1 -1 KiB).
        yield from pend

    def size(self, eightbit=False, smtputf8=False):
        # The exact length of chunks(): attachments counted from their sizes, never read.
        self.check_addresses(smtputf8)
        return sum(p if isinstance(p, int) else len(p) for p in self._parts(eightbit, False))

    def _parts(self, eightbit, buf):
        # buf: the send's buffer (Attachment.buffer()), None for a new one per chunk, False when
        # only sizing (an attachment's encoded length is yielded as an int instead).
        yield self.head
        if self.raw and not self.has_8bit:
            cte = b"7bit"
        elif self.raw and eightbit:
            cte = b"8bit"
        else:
            cte = b"quoted-printable"
        text = (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: ", cte, b"\r\n\r\n")
        # The headers go as the pieces they are made of, not joined: sizing then copies
        # nothing, and a message with attachments sends them as they are (chunks()), where one
        # copy of its multipart header (about 190 bytes) was what failed first near the edge
        # of the heap (32-bit W2); a short message joins them anyway.
        if not self.attachments:
            yield from text
            yield from self._body_lines(cte, buf)
            return
        delim = b"\r\n--" + self.boundary.encode()
        yield from (b'Content-Type: multipart/mixed; boundary="', delim[4:], b'"\r\n\r\n', delim[2:], b"\r\n")
        yield from text
        yield from self._body_lines(cte, buf)
        for a in self.attachments:
            # The CRLF before a delimiter belongs to it (RFC 2046 5.1.1): body and base64
            # both end with CRLF, so each part's content ends cleanly.
            yield from (delim, b"\r\n", a.head, b"\r\n")
            if buf is False:
                yield a.encoded_size()
            else:
                yield from a.encoded(buf)
        yield delim
        yield b"--\r\n"

    def _body_lines(self, mode, buf):
        # Quoted-printable (a body that cannot go as it is, or 8-bit text to a server without
        # 8BITMIME) is mailer.qp's, loaded for such a body only: a plain text body, most of a
        # board's mail, never puts that code on the heap. buf False: sizing (_parts).
        qp = None
        if mode == b"quoted-printable":
            from mailer.qp import encode_line as qp
        body, pos = self.body, 0
        while pos < len(body):
            end = body.find(b"\n", pos)
            if qp:
                yield qp(body[pos:end])
            else:
                yield end - pos + 2 if buf is False else body[pos:end] + b"\r\n"
            pos = end + 1
        if qp:
            unload("qp")
