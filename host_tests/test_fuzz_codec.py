# Property tests of the wire codec (fuzzing): whatever bytes a server sends, cut
# into whatever pieces, the reply parser gives replies or the project's own protocol error
# (#801), nothing else, and never holds more than one line plus one reply's lines; the EHLO
# capability parser and the mechanism choice take any reply; the DATA encoder's output does
# not depend on how the message was cut into chunks.
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer import classify, codec, handshake
from mailer.codes import COMM
from mailer.errors import MailError

# The codec's bounds and the mechanism order (private consts there: no names on a board's heap).
MAX_LINE = 512  # octets per reply line, CRLF included (RFC 5321 4.5.3.1.5)
MAX_LINES = 50
MAX_REPLY = 4096
STRENGTH = (b"OAUTHBEARER", b"XOAUTH2", b"CRAM-MD5", b"PLAIN", b"LOGIN")

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Bytes that look like SMTP often enough to get past the first checks, mixed with noise.
_PIECES = st.sampled_from(
    [
        b"250",
        b"220",
        b"421",
        b"535",
        b"334",
        b"-",
        b" ",
        b"\r\n",
        b"\n",
        b"\r",
        b"ok",
        b"\xff",
        b"\x00",
        b"AUTH PLAIN LOGIN",
        b"SIZE 10",
        b"STARTTLS",
        b"2.7.0",
        b"9",
        b"x" * 300,
    ]
)
_STREAM = st.one_of(
    st.binary(max_size=3000),
    st.lists(_PIECES, max_size=200).map(b"".join),
)


def _cut(data, sizes):
    out, i = [], 0
    for n in sizes:
        if i >= len(data):
            break
        out.append(data[i : i + n])
        i += n
    if i < len(data):
        out.append(data[i:])
    return out


def _read_all(chunks):
    """Feed the chunks as the session does (feed, then pop until None); returns the replies,
    or the MailError that ended it. Checks the bound after every step."""
    r = codec.ReplyReader()
    replies = []
    try:
        for chunk in chunks:
            r.feed(chunk)
            while True:
                reply = r.pop()
                assert r.pending() < MAX_LINE  # one partial line, never more
                assert len(r.lines) <= MAX_LINES
                assert all(len(ln) < MAX_LINE for ln in r.lines)
                if reply is None:
                    break
                replies.append(reply)
    except MailError as e:
        assert e.code == COMM and e.detail.startswith("bad reply: ")
        return replies, e
    return replies, None


@FUZZ
@given(_STREAM, st.lists(st.integers(1, 700), max_size=50))
def test_reply_parser_any_stream_any_chunking(data, sizes):
    replies, err = _read_all(_cut(data, sizes))
    for rep in replies:
        assert 200 <= rep.code <= 599
        assert 1 <= len(rep.lines) <= MAX_LINES
        line = rep.line()  # the text shown to the user: one ASCII line
        assert line.isprintable() and len(line) < MAX_LINE
        classify.enhanced(rep.lines[0])
    if err is None:
        # Without an error, chunking does not matter: one piece gives the same replies.
        whole, err1 = _read_all([data])
        assert err1 is None
        assert [(x.code, x.lines) for x in whole] == [(x.code, x.lines) for x in replies]


@FUZZ
@given(
    st.lists(st.binary(max_size=80).filter(lambda b: b"\n" not in b and b"\r" not in b), max_size=120),
    st.lists(st.integers(1, 64), max_size=40),
)
def test_well_formed_replies_survive_any_chunking(texts, sizes):
    # Lines of printable text after "250-"/"250 ": a reply comes back intact in any pieces,
    # or, past the line-count or reply-size bound, #801 at once.
    texts = [bytes(c for c in t if 32 <= c < 127) for t in texts] or [b""]
    wire = b"".join(b"250-" + t + b"\r\n" for t in texts[:-1]) + b"250 " + texts[-1] + b"\r\n"
    replies, err = _read_all(_cut(wire, sizes))
    if len(texts) > MAX_LINES or sum(4 + len(t) for t in texts) > MAX_REPLY:
        assert err is not None and "reply too long" in err.detail and not replies
    else:
        assert err is None and len(replies) == 1 and replies[0].lines == texts


@FUZZ
@given(
    st.lists(st.binary(max_size=120), max_size=MAX_LINES),
    st.lists(st.sampled_from(["CRAM-MD5", "PLAIN", "LOGIN", "XOAUTH2"]), max_size=4),
)
def test_capability_parser_and_mechanism_choice(lines, allowed):
    caps = handshake.parse_ehlo(codec.Reply(250, [b"host"] + lines))
    assert len(caps) <= len(lines)
    for kw, params in caps.items():
        assert isinstance(kw, bytes) and isinstance(params, bytes) and kw == kw.upper()
    mech = handshake.choose_mechanism(caps.get(b"AUTH", b""), tuple(allowed))
    assert mech is None or (mech in STRENGTH and mech.decode() in allowed and mech in caps[b"AUTH"].upper().split())


@FUZZ
@given(
    st.lists(st.sampled_from([b".", b"..", b"a", b"\r\n", b".x", b"=\r\n"]), max_size=80),
    st.lists(st.integers(1, 40), max_size=60),
)
def test_dot_stuffing_independent_of_chunking(pieces, sizes):
    # Text with CRLF line ends only (what mailer.message makes), cut anywhere, a CRLF too:
    # stuffed a chunk at a time as mailer.transfer does (bol: the last chunk ended with LF),
    # every line that starts with "." gets one more, and nothing else changes (RFC 5321 4.5.2).
    body = b"".join(pieces)
    out, bol = [], True
    for c in _cut(body, sizes):
        if c:
            out.append(codec.stuffed(c, bol))
            bol = c[-1] == 10
    assert b"".join(out) == b"\r\n".join(b"." + ln if ln[:1] == b"." else ln for ln in body.split(b"\r\n"))
    assert bol == (body[-1:] in (b"", b"\n"))
