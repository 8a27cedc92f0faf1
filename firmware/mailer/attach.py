# Attachments (RFC 2045 6.8, RFC 2183, RFC 2231): a file on flash or bytes in RAM, base64-encoded
# from one reused buffer a few lines at a time, so RAM use does not grow with the file. Only a
# message with attachments loads this module.
import os
from binascii import b2a_base64

from mailer.compat import const
from mailer.errors import MailError

# Device error codes (mailer.codes; README, "Device error codes").
_SETTINGS = const(861)  # settings invalid / bad input

# RFC 2045 6.8: base64 lines of 76 characters carry 57 octets.
_B64_IN = const(57)
# Attachments are read 57 * 8 octets at a time: 8 base64 lines (624 octets) per chunk.
_READ = const(456)
_OUT = const(624)  # 8 lines of 76 characters and CRLF
_LINE = const(78)

# File name extension and MIME type, one per line: one string, not a dict of 28 strings (each
# an object on a board's heap when loaded from .mpy).
_TYPES = const(""")
txt text/plain
log text/plain
csv text/csv
html text/html
json application/json
pdf application/pdf
zip application/zip
gz application/gzip
jpg image/jpeg
jpeg image/jpeg
png image/png
gif image/gif
bmp image/bmp
""")


class Attachment:
    # A file on flash (path) or bytes in RAM (data); name defaults to the file's name and
    # gives the MIME type unless mime_type says otherwise. A file is read only when sent.

    def __init__(self, path=None, data=None, name=None, mime_type=None):
        # The checks and the part's header now: mailer.mime is not on the heap while it is sent.
        from mailer import mime

        if (path is None) == (data is None):
            raise MailError(_SETTINGS, "attachment: give path or data")
        if data is not None and not isinstance(data, (str, bytes, bytearray)):
            raise MailError(_SETTINGS, "attachment: data is not bytes")
        self.path = path
        self.data = data.encode() if isinstance(data, str) else data
        if path is not None:
            name = name or mime.check("attachment path", path)[path.rfind("/") + 1 :]
            self.size()  # fail now, with #861, if the file is missing
        self.name = mime.check("attachment name", name or "")
        if not name or len(name.encode()) > 200:
            raise MailError(_SETTINGS, "attachment name missing or too long")
        if not mime_type:  # from the name's extension (_TYPES)
            dot = name.rfind(".")
            i = _TYPES.find("\n%s " % name[dot + 1 :].lower()) if dot >= 0 else -1
            if i < 0:
                mime_type = "application/octet-stream"
            else:
                i = _TYPES.index(" ", i)
                mime_type = _TYPES[i + 1 : _TYPES.index("\n", i)]
        self.mime_type = mime.token("mime_type", mime_type, b"/+-.")
        self.head = mime.part_head(self.name, self.mime_type)

    def size(self):
        if self.data is not None:
            return len(self.data)
        try:
            st = os.stat(self.path)
        except OSError:
            raise MailError(_SETTINGS, "attachment not found: " + self.path) from None
        # A local problem, found before MAIL: #861, not retried (a folder cannot be read).
        if st[0] & 0x4000:  # S_IFDIR
            raise MailError(_SETTINGS, "attachment is a folder: " + self.path)
        return st[6]

    def encoded_size(self):
        # The length of its content as base64 in 76-character lines, each ending CRLF (RFC 2045
        # 6.8), counted, never encoded.
        full, rest = divmod(self.size(), _B64_IN)
        return full * 78 + (4 * ((rest + 2) // 3) + 2 if rest else 0)

    def encoded(self, bufs):
        # The base64 body in chunks, read and encoded through bufs (buffers(): a send's, one
        # set for every attachment of its messages, or one message's).
        pieces, buffer = self.pieces(bufs[0]), bufs[1]
        # pieces: memoryviews whose lengths are multiples of 57 except the last one. Each is
        # encoded as whole base64 lines. buffer: the send's output buffer (Attachment.buffers()): a full
        # chunk is that buffer itself, not a new 624-byte piece each time (near the edge of a
        # fragmented heap that piece failed first), and it holds until the next one is made (the
        # session writes each chunk before it takes the next). None: each chunk is a new buffer. The
        # last, shorter chunk goes a line at a time, as new bytes: after a large file, one copy of it
        # all (up to 546 bytes) was what failed first near the edge of the heap.
        for mv in pieces:
            buf = buffer if buffer is not None else bytearray(_OUT)
            j = 0
            for i in range(0, len(mv), _B64_IN):
                line = b2a_base64(mv[i : i + _B64_IN])  # ends with "\n": made "\r\n" in place
                n = len(line)
                buf[j : j + n] = line
                buf[j + n - 1] = 13
                buf[j + n] = 10
                j += n + 1
            if j == _OUT:
                yield buf
            else:
                for k in range(0, j, _LINE):
                    yield bytes(memoryview(buf)[k : min(k + _LINE, j)])

    @staticmethod
    def buffers(send=True):
        # What encoded() reads and encodes through: the read buffer and, for a send (shared by
        # every attachment of its messages in turn), the output buffer.
        return bytearray(_READ), bytearray(_OUT) if send else None

    def pieces(self, buf):
        # Memoryviews of at most len(buf) octets, each a multiple of 57 but the last, read
        # into buf (one buffer for all attachments) or sliced from data without copying.
        if self.data is not None:
            mv = memoryview(self.data)
            for i in range(0, len(mv), len(buf)):
                yield mv[i : i + len(buf)]
            return
        mv = memoryview(buf)
        with open(self.path, "rb") as f:
            while True:
                n = 0
                while n < len(buf):  # a short read must not put base64 padding mid-file
                    got = f.readinto(mv[n:])
                    if not got:
                        break
                    n += got
                if not n:
                    return
                yield mv[:n]
