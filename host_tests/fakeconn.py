# The mocked socket layer for host tests: scripted server bytes in, client bytes recorded.
from mailer.codes import COMM
from mailer.errors import MailError
from mailer.transport import Conn
from mailer.upgrade import check_unread


class FakeConn(Conn):
    """Stands in for mailer.transport.Conn: its own socket side, Conn's checks (the password
    guard, the injection check before the handshake).

    `script` is a list of byte strings the server sends, one per read() call (a read
    returns at most n bytes of the current item; the rest comes on the next read).
    A `None` item is a time-out. The client's writes are recorded in `written`, and the
    point where TLS starts is marked with b"<TLS>".
    """

    def __init__(self, script, tls=False, handshake_error=None):
        self.script = list(script)
        self.written = bytearray()
        self.writes = []
        self.tls = tls
        self.closed = False
        self.reads = 0
        self.handshake_error = handshake_error

    def read(self, n=512):
        self.reads += 1
        if not self.script:
            return b""
        item = self.script[0]
        if item is None:
            self.script.pop(0)
            raise MailError(COMM, "read timed out")
        if len(item) > n:
            self.script[0] = item[n:]
            return item[:n]
        self.script.pop(0)
        return item

    def write(self, data):
        if self.closed:
            raise MailError(COMM, "write failed: closed")
        self.writes.append(bytes(data))
        self.written += data

    def starttls(self, unread=0):
        check_unread(unread)  # the real check, as Conn.starttls makes it
        if self.handshake_error:
            raise self.handshake_error
        self.written += b"<TLS>"
        self.tls = True

    def close(self):
        self.closed = True


def send(s, sender, recipients, chunks, size=None, eightbit=False, smtputf8=False):
    # One message through Session.send_many: its result, or the MailError that refused it.
    outs = []
    s.run(s.send_many([(sender, recipients, chunks, size, eightbit, smtputf8)], outs))
    if isinstance(outs[0], MailError):
        raise outs[0]
    return outs[0]


def resolved_cfg(incoming=None, **smtp):
    # A loaded settings dict for client.deliver against a FakeConn (implicit TLS, no checks).
    base = {
        "host": "mx",
        "port": 465,
        "tls": "implicit",
        "verify": "off",
        "auth": "same_as_incoming",
        "timeout_s": 1,
        "deadline_s": None,
        "mechanisms": ["PLAIN"],
        "allow_plain_password": False,
        "ehlo_name": "b",
        "ca_file": "",
        "pin_sha256": "",
    }
    return {"smtp": dict(base, **smtp), "incoming": incoming or {"user": "", "password": ""}}
