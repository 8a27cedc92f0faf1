# Host tests of mailer.message: what chunks() yields is parsed back with CPython's `email`
# package and compared with what was given; size() is checked against the real length.
import base64
import calendar
import datetime
import email
import json
import random
import re
from email import policy
from email.header import decode_header, make_header
from email.utils import format_datetime, parsedate_to_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer import codec, mime
from fakeconn import FakeConn, send

from mailer.codes import CLOCK, SETTINGS, TOO_LARGE
from mailer.errors import MailError
from mailer.attach import Attachment
from mailer.message import Message
from mailer.outbox import from_dict, to_dict
from mailer.session import Session

DATE = (2026, 11, 29, 10, 0, 0)
UTC = datetime.timezone.utc


def make(sender="Device <dev@example.com>", to="ops@example.com", **kw):
    kw.setdefault("date", DATE)
    return Message(sender, to, **kw)


def wire(msg, **kw):
    """The message as the session gets it, after the checks every message must pass."""
    chunks = list(msg.chunks(**kw))
    data = b"".join(chunks)
    assert len(data) == msg.size(**kw)
    assert all(type(c) in (bytes, bytearray) and c for c in chunks)
    assert data.endswith(b"\r\n")
    for line in data.split(b"\r\n")[:-1]:
        assert b"\r" not in line and b"\n" not in line  # every line ends CRLF
        assert len(line) <= 998
    head = data.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    return data


def parse(data):
    p = email.message_from_bytes(data, policy=policy.default)
    assert not p.defects
    for part in p.walk():
        assert not part.defects
    return p


def text(body):
    # The body as a reader sees it: line ends normalised, ending with a line end.
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    return body + "\n" if body and not body.endswith("\n") else body


def display_name(data):
    # The From display name by RFC 2047 6.2 (white space between adjacent encoded-words is
    # dropped). CPython 3.11's policy.default address parser keeps it (cpython gh-128110), so
    # a name longer than one encoded-word is decoded here with the legacy, compliant decoder.
    raw = email.message_from_bytes(data, policy=policy.compat32)["From"].replace("\r\n", "")
    if not raw.endswith(">"):
        return ""
    return str(make_header(decode_header(raw[: raw.rindex("<")].rstrip())))


def content(part):
    return part.get_content().replace("\r\n", "\n")


def test_full_message_round_trip(tmp_path):
    blob = random.Random(3).randbytes(1 << 20)
    path = tmp_path / "big.bin"
    path.write_bytes(blob)
    subject = "Rapport quotidien — température 21 °C, humidité 45 % : tout va bien 👍"
    body = "Bonjour,\nvoici le rapport.\nÇa marche.\n"
    msg = make(
        "Zoë Ünïcode <dev@example.com>",
        ["Bob Smith <bob@example.com>", "Ops <ops@example.org>"],
        subject=subject,
        body=body,
        cc=["Carol Ω <carol@example.net>"],
        bcc=["audit@example.net", "BOB@example.com"],
        attachments=[Attachment(path=str(path)), Attachment(data="a,b\n1,2\n", name="données.csv")],
    )
    data = wire(msg)
    p = parse(data)
    assert p["From"].addresses[0].display_name == "Zoë Ünïcode"
    assert p["From"].addresses[0].addr_spec == "dev@example.com"
    assert [(a.display_name, a.addr_spec) for a in p["To"].addresses] == [
        ("Bob Smith", "bob@example.com"),
        ("Ops", "ops@example.org"),
    ]
    assert [(a.display_name, a.addr_spec) for a in p["Cc"].addresses] == [("Carol Ω", "carol@example.net")]
    assert p["Bcc"] is None and b"audit@" not in data
    assert p["Subject"] == subject
    assert parsedate_to_datetime(p["Date"]) == datetime.datetime(*DATE, tzinfo=UTC)
    assert p["Message-ID"] == msg.message_id
    assert p["MIME-Version"] == "1.0"
    assert p.get_content_type() == "multipart/mixed"
    part_text, part_big, part_csv = p.iter_parts()
    assert part_text.get_content_type() == "text/plain"
    assert part_text["Content-Transfer-Encoding"] == "quoted-printable"
    assert content(part_text) == body
    assert part_big.get_content_type() == "application/octet-stream"
    assert part_big.get_filename() == "big.bin"
    assert part_big.get_payload(decode=True) == blob
    assert part_csv.get_content_type() == "text/csv"
    assert part_csv.get_filename() == "données.csv"
    assert part_csv.get_payload(decode=True) == b"a,b\n1,2\n"
    assert msg.recipients() == [b"bob@example.com", b"ops@example.org", b"carol@example.net", b"audit@example.net"]
    assert msg.envelope_from == b"dev@example.com"
    assert not msg.utf8


def test_exact_bytes_of_a_small_message():
    msg = make(subject="Hi", body="one\r\ntwo", message_id="<1.2@x.y>")
    assert b"".join(msg.chunks()) == (
        b"From: Device <dev@example.com>\r\nTo: ops@example.com\r\nSubject: Hi\r\n"
        b"Date: Sun, 29 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1.2@x.y>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        b"one\r\ntwo\r\n"
    )


def test_8bit_body_only_when_the_server_takes_it():
    body = "Grüße\n" * 3
    msg = make(body=body)
    assert msg.has_8bit
    p = parse(wire(msg, eightbit=True))
    assert p["Content-Transfer-Encoding"] == "8bit"
    assert "Grüße\r\n".encode() in b"".join(msg.chunks(eightbit=True))
    assert content(p) == body
    p = parse(wire(msg, eightbit=False))
    assert p["Content-Transfer-Encoding"] == "quoted-printable"
    assert content(p) == body
    assert not make(body="plain ascii\n").has_8bit


@pytest.mark.parametrize("body", ["x" * 2000 + "\n", "é" * 600 + "\n", "nul\0here\n"])
def test_long_lines_and_nul_go_quoted_printable(body):
    msg = make(body=body, attachments=[Attachment(data=b"x", name="x.txt")])
    assert not msg.has_8bit
    for eightbit in (False, True):
        data = wire(msg, eightbit=eightbit)
        part = next(parse(data).iter_parts())
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert content(part) == body
        assert max(len(x) for x in data.split(b"\r\n")) <= 78


def test_quoted_printable_keeps_trailing_space_and_equals():
    # RFC 2045 6.7 (3): white space at a line end is encoded, "=" always is.
    body = "é \nb\t\n= x=\n" + "y" * 74 + " z\n"
    data = wire(make(body=body))
    assert b"\r\n\r\n=C3=A9=20\r\nb=09\r\n=3D x=3D\r\n" + b"y" * 74 + b" =\r\nz\r\n" in data
    assert content(parse(data)) == body


def test_dot_lines_at_chunk_boundaries_stay_intact():
    # Lines ".", ".." and ".x" start chunks; the session's encoder stuffs them, and unstuffing
    # gives the message back (RFC 5321 4.5.2).
    body = "".join("a" * 600 + "\n" + dots + "\n" for dots in (".", "..", ".x", "...", ". x"))
    msg = make(body=body, attachments=[Attachment(data=b".\r\n..", name="dots.txt")])
    chunks = list(msg.chunks())
    for start in (b".\r\n", b"..\r\n", b".x\r\n"):
        assert any(c.startswith(start) for c in chunks[1:]), start
    out, bol = [], True
    for c in chunks:  # as mailer.transfer stuffs them
        out.append(codec.stuffed(c, bol))
        bol = c[-1] == 10
    data = b"".join(chunks)
    assert b"".join(out) == data.replace(b"\r\n.", b"\r\n..") and bol
    assert content(next(parse(data).iter_parts())) == body


def test_a_send_encodes_attachments_through_its_one_output_buffer():
    # The session writes each chunk before it takes the next: with the send's buffer, every full
    # base64 chunk is the one output buffer (no new 624-byte piece each), across attachments too
    # (the first one ends on a full chunk), and what is written is the message.
    first = random.Random(7).randbytes(456 * 5)
    second = random.Random(8).randbytes(456 * 3 + 100)
    msg = make(attachments=[Attachment(data=first, name="a.bin"), Attachment(data=second, name="b.bin")])
    buf = Attachment.buffer()
    sent, full = [], 0
    for c in msg.chunks(buf=buf):
        sent.append(bytes(c))  # written now, before the next chunk is made
        full += c is buf
    assert b"".join(sent) == wire(msg)
    parts = list(parse(b"".join(sent)).iter_parts())
    assert [p.get_payload(decode=True) for p in parts[1:]] == [first, second]
    # Every full chunk is the buffer itself: nothing is joined in a message with attachments.
    # The second one's last, shorter chunk (100 octets: two base64 lines) goes a line at a time.
    assert full == 5 + 3
    i = len(sent) - 2
    assert sent[i:] == [b"\r\n--" + msg.boundary.encode(), b"--\r\n"]  # the closing delimiter, as its pieces
    assert [len(c) for c in sent[i - 2 : i]] == [78, 62]


def test_body_pieces_and_line_ends_are_normalised():
    pieces = ["first\r", "\nsecond\r", "third\n", ".", "", ".x\n", b"..", b"\r\n", "last"]
    msg = make(body=pieces)
    data = wire(msg)
    assert data.endswith(b"\r\n\r\nfirst\r\nsecond\r\nthird\r\n..x\r\n..\r\nlast\r\n")
    assert content(parse(data)) == "first\nsecond\nthird\n..x\n..\nlast\n"


SIZES = [0, 1, 2, 3, 55, 56, 57, 58, 113, 114, 455, 456, 457, 912, 913, 4000]


@pytest.mark.parametrize("n", SIZES)
def test_size_matches_for_attachment_files(tmp_path, n):
    blob = random.Random(n).randbytes(n)
    path = tmp_path / "f.gz"
    path.write_bytes(blob)
    for body in ("", "x", "é\n" * 300):
        msg = make(body=body, attachments=[Attachment(path=str(path)), Attachment(data=blob, name="d")])
        for eightbit in (False, True):
            parts = list(parse(wire(msg, eightbit=eightbit)).iter_parts())
            assert parts[1].get_content_type() == "application/gzip"
            assert parts[1].get_payload(decode=True) == blob
            assert parts[2].get_payload(decode=True) == blob
        # Through a send's shared buffer (a file is read into it and encoded in place): each
        # chunk taken (copied) before the next is made.
        for att in (Attachment(data=blob, name="d"), Attachment(path=str(path))):
            encoded = b"".join(bytes(c) for c in att.encoded(Attachment.buffer()))
            want = base64.encodebytes(blob).replace(b"\n", b"\r\n")
            assert encoded == want and len(encoded) == att.encoded_size()


names = st.text(st.characters(blacklist_characters="\r\n\0", blacklist_categories=("Cs",)), max_size=80)
# A quoted display name: anything but a control character, a quote or a backslash.
displays = st.text(st.characters(blacklist_characters='"\\\x7f', blacklist_categories=("Cs", "Cc")), max_size=80)


@settings(max_examples=150, deadline=None)
@given(
    subject=names,
    display=displays,
    body=st.one_of(st.text(), st.lists(st.text(), max_size=5)),
    blobs=st.lists(st.binary(max_size=1500), max_size=3),
    eightbit=st.booleans(),
)
def test_any_shape_round_trips(subject, display, body, blobs, eightbit):
    sender = '"%s" <dev@example.com>' % display if display.strip() else "dev@example.com"
    atts = [Attachment(data=b, name="f%d.bin" % i) for i, b in enumerate(blobs)]
    msg = make(sender, subject=subject, body=body, attachments=atts)
    data = wire(msg, eightbit=eightbit)
    p = parse(data)
    assert str(p["Subject"] or "") == subject
    want = display if display.strip() else ""
    assert display_name(data) == want
    parts = list(p.iter_parts()) if atts else [p]
    full = body if isinstance(body, str) else "".join(body)
    assert content(parts[0]) == text(full)
    assert [x.get_payload(decode=True) for x in parts[1:]] == blobs


def test_encoded_words_are_short_and_never_split_a_character():
    subject = "Ä€𝄞z" * 40
    name = "Ünïcøde Ñame 𝄞 " * 8
    data = wire(make(subject=subject, sender=name + "<a@example.com>"))
    words = re.findall(rb"=\?utf-8\?B\?([A-Za-z0-9+/=]*)\?=", data)
    assert len(words) > 10
    for w in re.findall(rb"=\?[^ ]*\?=", data):
        assert len(w) <= 75
    for w in words:
        __import__("base64").b64decode(w).decode("utf-8")  # raises if a character was split
    assert parse(data)["Subject"] == subject
    assert display_name(data) == name.strip()


def test_long_ascii_subject_folds_between_words():
    subject = " ".join("word%d" % i for i in range(60))
    data = wire(make(subject=subject))
    assert b"=?" not in data
    assert parse(data)["Subject"] == subject


INJECTIONS = [
    ("subject", dict(subject="hi\r\nBcc: victim@example.com")),
    ("to", dict(to="a@example.com\r\nRCPT TO:<victim@example.com>")),
    ("to", dict(to="Evil\nBcc: victim@example.com <a@example.com>")),
    ("from", dict(sender="dev@example.com\rX: y")),
    ("cc", dict(cc=["ok@example.com", "b@example.com\n"])),
    ("bcc", dict(bcc="b@example.com\0")),
    ("attachment name", dict(attachments=[{"data": b"x", "name": "a.txt\r\nX-Evil: 1"}])),
    ("mime_type", dict(attachments=[{"data": b"x", "name": "a", "mime_type": "text/plain\r\nX: 1"}])),
    ("message_id", dict(message_id="<a@b>\r\nX: 1")),
]


@pytest.mark.parametrize("field,kw", INJECTIONS)
def test_header_injection_refused(field, kw):
    with pytest.raises(MailError) as e:
        if "attachments" in kw:
            kw["attachments"] = [Attachment(**kw["attachments"][0])]
        make(**kw)
    assert e.value.code == SETTINGS and field in e.value.detail
    assert "\r" not in e.value.detail and "\n" not in e.value.detail


def test_attachment_path_with_line_break_refused(tmp_path):
    with pytest.raises(MailError) as e:
        Attachment(path=str(tmp_path) + "/a\nb")
    assert e.value.code == SETTINGS and "attachment path" in e.value.detail


@pytest.mark.parametrize(
    "addr",
    ["nobody", "a@", "@b.c", "a b@c.d", "<a@b.c", "a@b..c", "a@.b", "x@y.z, w@v.u", "a@b@c.d", "Name <>", 'q"uote@b.c'],
)
def test_bad_addresses_refused(addr):
    with pytest.raises(MailError) as e:
        make(to=addr)
    assert e.value.code == SETTINGS and e.value.detail == "to: not an address: " + addr


@pytest.mark.parametrize(
    "kw,why",
    [
        (dict(to=[]), "no recipients"),
        (dict(body=(x for x in ["a"])), "generator"),
        (dict(body=b"\xff\xfe"), "not UTF-8"),
        (dict(subject=5), "subject: not a string"),
        (dict(date=(2026, 13, 1, 0, 0, 0)), "date"),
        (dict(message_id="no-angle@x"), "message_id"),
        (dict(attachments=["file.txt"]), "not an Attachment"),
    ],
)
def test_bad_input_refused(kw, why):
    with pytest.raises(MailError) as e:
        make(**kw)
    assert e.value.code == SETTINGS and why in e.value.detail


def test_attachment_checks(tmp_path):
    with pytest.raises(MailError, match="attachment not found: /nonexistent/x.png"):
        Attachment(path="/nonexistent/x.png")
    with pytest.raises(MailError, match="give path or data"):
        Attachment(path="a", data=b"b")
    with pytest.raises(MailError, match="name missing"):
        Attachment(data=b"b")
    p = tmp_path / "later.txt"
    p.write_bytes(b"x")
    msg = make(attachments=[Attachment(path=str(p))])
    p.unlink()  # gone between acceptance and sending
    with pytest.raises(MailError) as e:
        msg.size()
    assert e.value.code == SETTINGS and "later.txt" in e.value.detail


@pytest.mark.parametrize(
    "name,mime_type",
    [
        ("a.txt", "text/plain"),
        ("b.CSV", "text/csv"),
        ("c.json", "application/json"),
        ("d.log", "text/plain"),
        ("e.html", "text/html"),
        ("f.jpg", "image/jpeg"),
        ("g.jpeg", "image/jpeg"),
        ("h.png", "image/png"),
        ("i.gif", "image/gif"),
        ("j.bmp", "image/bmp"),
        ("k.pdf", "application/pdf"),
        ("l.bin", "application/octet-stream"),
        ("m.zip", "application/zip"),
        ("n.tar.gz", "application/gzip"),
        ("o.xyz", "application/octet-stream"),
        ("noext", "application/octet-stream"),
    ],
)
def test_mime_type_from_extension(name, mime_type):
    assert Attachment(data=b"x", name=name).mime_type == mime_type
    part = list(parse(wire(make(attachments=[Attachment(data=b"x", name=name)]))).iter_parts())[1]
    assert part.get_content_type() == mime_type and part.get_filename() == name


def test_mime_type_override():
    att = Attachment(data=b"x", name="reading.dat", mime_type="application/vnd.acme+json")
    part = list(parse(wire(make(attachments=[att]))).iter_parts())[1]
    assert part.get_content_type() == "application/vnd.acme+json"


def test_non_ascii_address_needs_smtputf8():
    msg = make(to="José <josé@exämple.com>", cc="ok@example.com")
    assert msg.utf8
    for call in (msg.chunks, msg.size):
        with pytest.raises(MailError) as e:
            call()
        assert e.value.code == SETTINGS and e.value.detail == "address not ASCII: josé@exämple.com"
    msg.check_addresses(True)
    data = wire(msg, smtputf8=True)
    assert "\r\nTo: =?utf-8?B?Sm9zw6k=?= <josé@exämple.com>\r\n".encode() in data  # RFC 6532
    addr = parse(data)["To"].addresses[0].addr_spec  # CPython reads headers as ASCII + escapes
    assert addr.encode("ascii", "surrogateescape").decode() == "josé@exämple.com"
    assert msg.recipients() == ["josé@exämple.com".encode(), b"ok@example.com"]


DATE_RE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|"
    r"Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000$"
)
MSGID_RE = re.compile(r"^<[0-9a-f]+\.[0-9a-f]{16}@example\.com>$")


def test_date_and_message_id_formats():
    msgs = [Message("dev@example.com", "ops@example.com") for _ in range(50)]  # clock: now
    for m in msgs:
        p = parse(wire(m))
        assert DATE_RE.match(p["Date"]) and MSGID_RE.match(p["Message-ID"])
        assert abs(parsedate_to_datetime(p["Date"]).timestamp() - datetime.datetime.now(UTC).timestamp()) < 5
    assert len({m.message_id for m in msgs}) == 50
    assert len({m.boundary for m in msgs}) == 50
    m = make(sender="Sensor 7 <dev@sensor-7.example.org>")  # the ID ends in the sender's domain
    assert m.message_id.endswith("@sensor-7.example.org>")
    assert b"".join(m.chunks()) == b"".join(m.chunks())  # the same Date and ID on every try


def test_date_formatting_matches_cpython():
    rnd = random.Random(5)
    for _ in range(3000):
        dt = datetime.datetime(2000, 1, 1, tzinfo=UTC) + datetime.timedelta(seconds=rnd.randrange(4 * 10**9))
        t = dt.timetuple()
        assert mime.date(t).decode() == format_datetime(dt)
        assert DATE_RE.match(mime.date(t).decode())
    p = parse(wire(make(date=0)))
    assert p["Date"] == "Thu, 01 Jan 1970 00:00:00 +0000"
    assert make(date=calendar.timegm(DATE)).date == DATE


def test_unset_clock_refused(monkeypatch):
    monkeypatch.setattr("time.gmtime", lambda *a: (2000, 1, 1, 0, 0, 5, 5, 1, 0))
    with pytest.raises(MailError) as e:
        Message("dev@example.com", "ops@example.com")
    assert e.value.code == CLOCK and e.value.detail == "clock not set" and e.value.retry
    make()  # an explicit date needs no clock


def test_to_dict_from_dict_round_trip(tmp_path):
    path = tmp_path / "pic.png"
    path.write_bytes(bytes(range(256)) * 10)
    msg = Message(
        "Zoë <dev@example.com>",
        ["a@example.com", "B <b@example.com>"],
        subject="Grüße",
        body="line 1\n.\n",
        cc="c@example.com",
        bcc=["d@example.com"],
        attachments=[Attachment(path=str(path)), Attachment(data=b"\0\1\2", name="raw")],
    )
    d = json.loads(json.dumps(to_dict(msg)))
    again = from_dict(d)
    assert again.message_id == msg.message_id and again.date == msg.date
    assert b"".join(again.chunks()) == b"".join(msg.chunks())
    assert again.recipients() == msg.recipients()
    assert again.size() == msg.size()
    del d["message_id"]
    with pytest.raises(MailError) as e:
        from_dict(d)
    assert e.value.code == SETTINGS and "stored message" in e.value.detail


def _session(caps):
    conn = FakeConn([b"250 ok\r\n" * 3 + b"354 go\r\n", b"250 queued\r\n"])
    s = Session(conn, b"mailer.local", tls="off", user=None)
    s.caps = caps
    return conn, s


def test_session_sends_exact_size_and_the_message_intact():
    msg = make(
        to=["a@example.com"],
        bcc="b@example.com",
        subject="Grüße",
        body=".\n..\n.x\n" * 300,
        attachments=[Attachment(data=b".\n" * 999, name="d.txt")],
    )
    conn, s = _session({b"SIZE": b"10000000", b"PIPELINING": b"", b"8BITMIME": b""})
    size = msg.size(eightbit=True)
    send(s, msg.envelope_from, msg.recipients(), msg.chunks(eightbit=True), size=size, eightbit=True)
    head, data = bytes(conn.written).split(b"DATA\r\n", 1)
    assert head == (
        b"MAIL FROM:<dev@example.com> SIZE=%d BODY=8BITMIME\r\n" % size
        + b"RCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
    )
    assert data.endswith(b"\r\n.\r\n")
    unstuffed = b"\r\n".join(x[1:] if x[:1] == b"." else x for x in data[:-5].split(b"\r\n"))
    assert unstuffed + b"\r\n" == b"".join(msg.chunks(eightbit=True))
    assert len(unstuffed) + 2 == size


def test_message_over_server_size_refused_before_data():
    msg = make(attachments=[Attachment(data=bytes(3000), name="z.bin")])
    conn, s = _session({b"SIZE": b"4000"})
    with pytest.raises(MailError) as e:
        send(s, msg.envelope_from, msg.recipients(), msg.chunks(), size=msg.size())
    assert e.value.code == TOO_LARGE and conn.written == b""


# -- one strict address parser, the same on CPython and on the Unix port ---------
# (text, (name, address)) accepted, or (text, the #861 detail for field "to").
ADDRESS_CASES = (
    [
        ('"Doe, Jane" <jane@example.com>', ["Doe, Jane", "jane@example.com"]),
        ('"x <y@z.w>" <a@b.example>', ["x <y@z.w>", "a@b.example"]),
        ("J. Doe <j@example.com>", ["J. Doe", "j@example.com"]),
        ("ops@example.com", ["", "ops@example.com"]),
        # Two readings (CVE-2023-27043 class): refused, never delivered to the inner address.
        ("alice@example.org(<bob@example.com>", "to: not an address: alice@example.org(<bob@example.com>"),
        ("alice@example.org <bob@example.com>", "to: not an address: alice@example.org <bob@example.com>"),
        ("Doe, Jane <jane@example.com>", "to: not an address: Doe, Jane <jane@example.com>"),
        ('"a"b <c@example.com>', 'to: not an address: "a"b <c@example.com>'),
        ('"a\\"b" <c@example.com>', 'to: not an address: "a\\"b" <c@example.com>'),
        ("Bob (work) <bob@example.com>", "to: not an address: Bob (work) <bob@example.com>"),
        ("group: a@example.com;", "to: not an address: group: a@example.com;"),
        ('"open <a@example.com>', 'to: not an address: "open <a@example.com>'),
    ]
    + [("a%sb@example.com" % chr(c), "to: control character in address") for c in (1, 9, 0x1B, 0x1F, 0x7F)]
    + [
        ('"Es%sc" <e@example.com>' % chr(0x1B), "to: control character in address"),
    ]
)


def _mailbox_results():
    from mailer.mime import mailbox

    out = []
    for text, _ in ADDRESS_CASES:
        try:
            out.append(list(mailbox("to", text)))
        except MailError as e:
            out.append([e.code, e.detail])
    return out


def test_addresses_have_one_reading_on_cpython_and_the_unix_port():
    import mpy

    want = [w if isinstance(w, list) else [SETTINGS, w] for _, w in ADDRESS_CASES]
    assert _mailbox_results() == want
    code = (
        "import json\nfrom mailer.mime import mailbox\nfrom mailer.errors import MailError\n"
        "out = []\nfor t in json.loads(%r):\n"
        "    try:\n        out.append(list(mailbox('to', t)))\n"
        "    except MailError as e:\n        out.append([e.code, e.detail])\n"
        "print(json.dumps(out))\n"
    ) % json.dumps([t for t, _ in ADDRESS_CASES])
    r = mpy.run(["-c", code])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == want


@pytest.mark.parametrize("field", ["sender", "to", "cc", "bcc"])
def test_every_control_character_refused_in_every_address_field(field):
    for c in list(range(1, 9)) + list(range(11, 13)) + list(range(14, 32)) + [0x7F]:
        kw = {"to": "ops@example.com", field: "Dev <d%s@example.com>" % chr(c)}
        with pytest.raises(MailError) as e:
            make(**kw)
        assert e.value.code == SETTINGS
        assert e.value.detail == ("from" if field == "sender" else field) + ": control character in address"


def test_a_quoted_name_with_a_comma_is_one_mailbox_on_the_wire():
    m = make(to=['"Doe, Jane" <jane@example.com>', "ops@example.com"], cc='"Roe, R." <r@example.com>')
    data = wire(m)
    assert m.recipients() == [b"jane@example.com", b"ops@example.com", b"r@example.com"]
    p = parse(data)
    assert [a.display_name for a in p["To"].addresses] == ["Doe, Jane", ""]
    assert [a.addr_spec for a in p["To"].addresses] == ["jane@example.com", "ops@example.com"]
    assert p["Cc"].addresses[0].display_name == "Roe, R."


def test_recipients_are_bounded_before_they_are_parsed():
    many = ["r%d@example.com" % i for i in range(100)]
    assert len(make(to=many[:60], cc=many[60:], bcc=[]).recipients()) == 100
    for kw in (dict(to=many, bcc="x@example.com"), dict(to=["a@b.example"] * 1_000_000)):
        with pytest.raises(MailError) as e:
            make(**kw)
        assert (e.value.code, e.value.detail) == (SETTINGS, "too many recipients (at most 100)")


def test_recipients_are_bounded_on_the_unix_port():
    import mpy

    r = mpy.run_code(
        "from mailer.message import Message\nfrom mailer.errors import MailError\n"
        "for n in (100, 101, 100000):\n"
        "    try:\n        print(len(Message('a@b.example', ['r@b.example'] * n, date=0).recipients()))\n"
        "    except MailError as e:\n        print(e.code, e.detail)\n"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "1",
        "861 too many recipients (at most 100)",
        "861 too many recipients (at most 100)",
    ]


def test_due_limits_the_envelope_not_the_headers():
    m = make(to=["a@example.com", "B@example.com"], cc="c@example.com")
    whole = wire(m)
    m.due = [b"B@example.com"]
    assert m.recipients() == [b"B@example.com"]
    assert wire(m) == whole  # the headers keep every To and Cc


def test_an_attachment_that_is_a_folder_is_861(tmp_path):
    with pytest.raises(MailError) as e:
        Attachment(path=str(tmp_path))
    assert (e.value.code, e.value.retry) == (SETTINGS, False)
    assert e.value.detail == "attachment is a folder: " + str(tmp_path)
