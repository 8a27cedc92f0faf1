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


class Attachment:
    # A file on flash (path) or bytes in RAM (data); name defaults to the file's name and
    # gives the MIME type unless mime_type says otherwise. A file is read only when sent.

    def __init__(self, path=None, data=None, name=None, mime_type=None):
        # The checks and the part's header now (mailer.mime, which Message unloads once it is
        # made): only what sends the attachment stays on the heap while it is sent.
        from mailer import mime

        mime.attachment(self, path, data, name, mime_type)

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

    def encoded(self, buf=None):
        # The base64 body in chunks of whole 76-character lines, each ending CRLF. buf: the
        # send's one buffer (buffer()), shared by every attachment of its messages in turn: a
        # full chunk is that buffer itself, not a new 624-byte piece each time (near the edge of
        # a fragmented heap that piece failed first), and it holds until the next one is made
        # (the session writes each chunk before it takes the next). None: each chunk is a new
        # buffer. A file is read into the buffer's last 456 bytes and encoded in place, line by
        # line from its front: line k's 78 octets end at 78(k + 1), never past where line k + 1's
        # input starts, 168 + 57(k + 1) (equal for the eighth), and each line is read before it
        # is written. One buffer, not a read buffer beside it: 456 bytes less for the whole send.
        # The last, shorter chunk goes a line at a time, as new bytes: after a large file, one copy
        # of it all (up to 546 bytes) was what failed first near the edge of the heap.
        # Few locals (the generator is made as its part begins, when the heap is fullest, and
        # each local is 4 bytes of it on a board: 112 bytes in all, where 132 was what failed
        # first near the edge, 32-bit W2): the lines' input is one memoryview taken down line by
        # line (no index of its own), and j, the write position, holds each read's count first.
        f = None if self.data is not None else open(self.path, "rb")
        try:
            pos = 0
            while True:
                out = buf if buf is not None else bytearray(_OUT)
                if f:
                    src = memoryview(out)[_OUT - _READ :]
                    n = 0
                    while n < _READ:  # a short read must not put base64 padding mid-file
                        j = f.readinto(src[n:])
                        if not j:
                            break
                        n += j
                    src = src[:n]
                else:
                    src = memoryview(self.data)[pos : pos + _READ]
                    pos += len(src)
                if not src:
                    return
                j = 0
                while src:
                    line = b2a_base64(src[:_B64_IN])  # ends with "\n": made "\r\n" in place
                    src = src[_B64_IN:]
                    out[j : j + len(line)] = line
                    j += len(line)
                    out[j - 1] = 13
                    out[j] = 10
                    j += 1
                if j == _OUT:
                    yield out
                else:
                    n = 0
                    while n < j:
                        yield bytes(memoryview(out)[n : min(n + _LINE, j)])
                        n += _LINE
        finally:
            if f:
                f.close()

    @staticmethod
    def buffer():
        # A send's one buffer for encoded(), shared by every attachment of its messages in turn.
        return bytearray(_OUT)
