# One HTTPS POST of a form (RFC 9112), over the project's own verified TLS (mailer.transport;
# micropython-lib's requests wraps HTTPS with CERT_NONE): the request in one write, the response
# read to its Content-Length (or to the connection's end), never more than MAX_RESPONSE bytes,
# every read bounded by the time-out and the deadline. The exchange is written once, as a
# generator of the session's requests (bytes to write, READ): post() drives it on a blocking
# connection, apost() on an asyncio one (mailer.aclient.arun). Used by mailer.oauth2 only.
from mailer.compat import const, deadline, once
from mailer.errors import MailError

# Device error codes (mailer.codes; README, "Device error codes").
_COMM = const(801)  # error communicating with the SMTP server
_TLS_NO_COMMON = const(841)  # no encryption method in common
_TLS_CLIENT_CERT = const(842)  # server asked for a client certificate
_CLOCK = const(843)  # device clock not set / too far off
_SETTINGS = const(861)  # settings invalid / bad input
_CERT = const(863)  # server certificate rejected
_OAUTH = const(866)  # OAuth token refused (the refresh grant)

# The whole HTTP response held in RAM: status line, headers and the JSON (a Microsoft access
# token is a JWT of 1.5-3 KB, and a rotated refresh token comes with it).
MAX_RESPONSE = const(8192)
_READ_SIZE = const(512)
_READ = const(0)  # mailer.session's op: send back what was read


def _quote(v):
    # application/x-www-form-urlencoded (RFC 6749 appendix B): all but unreserved as %XX.
    out = bytearray()
    for c in v.encode():
        if 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c in b"-._~":
            out.append(c)
        else:
            out += b"%%%02X" % c
    return bytes(out)


def form(pairs):
    """The form body of (name, value) pairs; an empty value is left out."""
    return b"&".join(k.encode() + b"=" + _quote(v) for k, v in pairs if v)


def split_url(url):
    """(host, port, path) of an https:// URL (settings checked it: mailer.schema)."""
    if url[:8] != "https://":
        raise MailError(_SETTINGS, "smtp.oauth2.token_url: must be https://host[:port]/path")
    hostport, _, path = url[8:].partition("/")
    host, _, port = hostport.partition(":")
    return host, int(port) if port else 443, "/" + path


def _header_end(buf):
    i = buf.find(b"\r\n\r\n")
    return -1 if i < 0 else i + 4


def _length(head):
    # Content-Length, or None when the body ends with the connection (or is chunked).
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return None


def complete(buf):
    """Whether buf holds a whole response: headers and Content-Length bytes of body."""
    end = _header_end(buf)
    if end < 0:
        return False
    n = _length(buf[:end])
    return n is not None and len(buf) - end >= n


def _dechunk(body):
    # RFC 9112 7.1: size in hex (extensions after ";"), CRLF, data, CRLF; a 0 size ends it.
    out = b""
    while True:
        line, sep, rest = body.partition(b"\r\n")
        size = line.split(b";")[0].strip()
        if not sep or not size or size.strip(b"0123456789abcdefABCDEF"):
            raise ValueError("bad chunk")
        n = int(size, 16)
        if n == 0:
            return out
        if len(rest) < n + 2:
            raise ValueError("truncated chunk")
        out += rest[:n]
        body = rest[n + 2 :]


def parse_response(buf):
    """(status, body) of an HTTP/1.x response in buf (bytes); MailError #801 when it is not one."""
    end = _header_end(buf)
    parts = buf[:end].split(b" ", 2)
    if end < 0 or buf[:7] != b"HTTP/1." or len(parts) < 2 or not parts[1].isdigit():
        raise MailError(_COMM, "not an HTTP response")
    head, body = buf[:end], buf[end:]
    n = _length(head)
    if n is not None:
        if len(body) < n:
            raise MailError(_COMM, "response cut short")
        body = body[:n]
    elif b"chunked" in head.lower():
        try:
            body = _dechunk(body)
        except ValueError as e:
            raise MailError(_COMM, str(e)) from None
    return int(parts[1]), body


def exchange(host, port, path, body):
    """The POST of body (a form) to path at host:port as a step (a generator of writes and
    READs); returns (status, response body)."""
    name = host if port == 443 else "%s:%d" % (host, port)
    yield (
        "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Accept: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (path, name, len(body))
    ).encode() + body
    buf = b""
    while not complete(buf):
        data = yield _READ
        if not data:
            break
        buf += data
        if len(buf) > MAX_RESPONSE:
            raise MailError(_COMM, "response larger than %d bytes" % MAX_RESPONSE)
    return parse_response(buf)


def _endpoint(e, host):
    # Certificate, clock and TLS failures keep their codes; anything else (DNS, refused, time-out,
    # reset, a broken response) is the endpoint unreachable: #801, worth retrying.
    keep = e.code in (_CERT, _CLOCK, _TLS_NO_COMMON, _TLS_CLIENT_CERT, _OAUTH)
    return MailError(e.code if keep else _COMM, "token endpoint %s: %s" % (host, e.detail))


def post(host, port, path, body, timeout_ms, deadline_ms, tls_cfg):
    """exchange() on a new blocking connection: (status, response body)."""
    conn = None
    try:
        conn = once("dial", "connect", host, port, timeout_ms, deadline(deadline_ms), tls_cfg, implicit_tls=True)
        step = exchange(host, port, path, body)
        answer = None
        while True:
            try:
                op = step.send(answer)
            except StopIteration as e:
                return e.value
            answer = conn.read(_READ_SIZE) if op == _READ else conn.write(op)
    except MailError as e:
        raise _endpoint(e, host) from None
    finally:
        if conn:
            conn.close()


async def apost(host, port, path, body, timeout_ms, deadline_ms, tls_cfg):
    """post() on an asyncio connection: other tasks run during the handshake and the waits."""
    from mailer import aclient, aconn

    conn = None
    try:
        conn = await aconn.connect(host, port, timeout_ms, deadline(deadline_ms), tls_cfg, implicit_tls=True)
        return await aclient.arun(None, exchange(host, port, path, body), conn)
    except MailError as e:
        raise _endpoint(e, host) from None
    finally:
        if conn:
            conn.close()
