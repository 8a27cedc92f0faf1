# The blocking connection on a TLS socket that has no recv() (MicroPython built without DTLS:
# only the stream read(n), which waits for all n bytes): Conn makes it non-blocking and waits
# with poll, so a reply shorter than a read comes back at once and every wait keeps its bound.
# A stand-in for that socket on CPython: read(n) and write(b) of a non-blocking socket, None
# when nothing can be done yet, as MicroPython's streams give.
import socket
import threading
import time

import pytest

from mailer.compat import deadline
from mailer.codes import COMM
from mailer.errors import MailError
from mailer.transport import Conn, TlsConfig


class StreamOnly:
    def __init__(self, sock):
        self.s = sock
        self.writes = []

    def setblocking(self, flag):
        self.s.setblocking(flag)

    def fileno(self):
        return self.s.fileno()

    def read(self, n):
        # MicroPython's stream read(n): blocking (or with a time-out), it waits for all n bytes
        # or the end; non-blocking, it gives what has arrived, None for nothing.
        if self.s.gettimeout() != 0.0:
            out = b""
            while len(out) < n:
                part = self.s.recv(n - len(out))  # a time-out raises, as a board's socket does
                if not part:
                    break
                out += part
            return out
        try:
            return self.s.recv(n)
        except BlockingIOError:
            return None

    def write(self, mv):
        try:
            n = self.s.send(mv)
        except BlockingIOError:
            n = None
        self.writes.append(n)
        return n

    def close(self):
        self.s.close()


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    conn = Conn(a, "mx", 300, deadline(5000), TlsConfig("off"))
    # As mailer.upgrade leaves a TLS socket without recv(): non-blocking, read and write only.
    conn.sock = StreamOnly(a)
    conn.recv = None
    conn.sock.setblocking(False)
    yield conn, b
    a.close()
    b.close()


def test_a_short_reply_comes_back_at_once(pair):
    conn, peer = pair
    peer.sendall(b"250 ok\r\n")
    t0 = time.monotonic()
    assert conn.read(256) == b"250 ok\r\n"
    assert time.monotonic() - t0 < 0.2  # not the 300 ms read time-out
    later = b"354 go\r\n"

    def send_later():
        time.sleep(0.05)
        peer.sendall(later)

    threading.Thread(target=send_later).start()
    assert conn.read(256) == later  # nothing there at first: poll, then what arrived


def test_silence_is_a_read_time_out(pair):
    conn, _ = pair
    t0 = time.monotonic()
    with pytest.raises(MailError) as e:
        conn.read(256)
    assert (e.value.code, e.value.detail, e.value.retry) == (COMM, "read timed out", True)
    assert 0.25 < time.monotonic() - t0 < 1.5


def test_a_full_buffer_waits_for_room_and_writes_everything(pair):
    conn, peer = pair
    data = bytes(range(256)) * 8192  # 2 MiB: more than the socket buffers hold
    got = bytearray()

    def drain():
        time.sleep(0.1)  # the writer meets a full buffer first
        while len(got) < len(data):
            got.extend(peer.recv(65536))

    t = threading.Thread(target=drain)
    t.start()
    conn.timeout_ms = 2000
    conn.write(data)
    t.join(5)
    assert bytes(got) == data and None in conn.sock.writes


def test_a_peer_that_never_reads_is_a_write_time_out(pair):
    conn, _ = pair
    with pytest.raises(MailError) as e:
        conn.write(b"x" * (8 << 20))
    assert (e.value.code, e.value.detail) == (COMM, "write timed out")


def test_the_ca_file_is_read_at_connect_and_not_kept(tmp_path):
    # A CA file is named by the settings and read when a connection is made (mailer.tlsctx,
    # tlsctx.ahead): its certificate is not kept on the heap between sends, and a file that
    # cannot be read stops the send with #861 before any connection is made.
    from fakeconn import resolved_cfg

    from mailer import client, tlsctx
    from mailer.codes import SETTINGS
    from mailer.message import Message
    from mailer.dial import connect

    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    assert tlsctx.load_ca(str(ca)) == b"\x30\x82\x01"  # PEM taken as DER
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(2)
    port = srv.getsockname()[1]
    gone = str(tmp_path / "gone.der")
    with pytest.raises(MailError) as e:
        connect("127.0.0.1", port, 1000, deadline(3000), TlsConfig("ca", gone, ca_key="smtp.oauth2.ca_file"))
    assert (e.value.code, e.value.detail) == (SETTINGS, "smtp.oauth2.ca_file: cannot read " + gone)
    c = client.Client(resolved_cfg(host="127.0.0.1", port=port, tls="required", verify="ca", ca_file=gone))
    assert c.tls_args == ("ca", gone, "")  # the file's name, not its bytes
    msg = Message("a@example.com", "b@example.com", body="x", date=time.gmtime())
    (r,) = c.deliver([msg])
    assert r.error.code == SETTINGS and r.error.detail == "smtp.ca_file: cannot read " + gone
    srv.settimeout(0.3)
    with pytest.raises(socket.timeout):
        srv.accept()  # neither connected
    srv.close()


def test_a_connect_makes_the_tls_context_only_when_none_was_made_ahead(monkeypatch):
    # Client.prepare makes a send's context before its modules load (tlsctx.ahead); the
    # connect then leaves it as it is and does not load mailer.tlsctx again. For a TlsConfig
    # without one (an upgrade took it: POP before SMTP, then SMTP) it asks tlsctx.ahead, which
    # makes one when needed: not for a connection in clear with verify "off".
    from mailer import compat, dial

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(2)
    port = srv.getsockname()[1]
    calls = []
    real = compat.once

    def once(name, function, *args, **kw):
        calls.append((name, function))
        return real(name, function, *args, **kw)

    monkeypatch.setattr(compat, "once", once)
    made = object()
    cfg = TlsConfig("ca", "ca.der")
    cfg.ctx = made
    conn = dial.connect("127.0.0.1", port, 1000, deadline(3000), cfg)
    conn.close()
    assert calls == [] and cfg.ctx is made
    cfg = TlsConfig("off")
    conn = dial.connect("127.0.0.1", port, 1000, deadline(3000), cfg)
    conn.close()
    assert calls == [("tlsctx", "ahead")] and cfg.ctx is None  # "off" in clear needs none
    srv.close()
