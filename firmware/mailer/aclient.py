# The awaitable send: `await aclient.adeliver(cfg, messages, log)` gives what client.deliver
# gives (one Result per message, same codes, deadline, bounds, STARTTLS rules and secrets),
# while the board's other tasks (status blink, display, the user's own) keep running.
# The SMTP dialogue is written once, as generators (Client.dialogue, Session's steps) that
# yield I/O requests; arun() answers them on an asyncio connection (mailer.aconn), as
# Session.run() does on the blocking one. Imported only by a program that uses asyncio.
from mailer import aconn, client
from mailer.compat import const

# mailer.session's ops (see there) and the size of one read.
_READ = const(0)
_TLS = const(1)
_TOKEN = const(2)
_FRESH = const(3)
_CLOSE = const(4)
_READ_SIZE = const(64)


async def arun(s, gen, conn):
    """Drive gen (a generator of Session/Client steps) on conn (an aconn.AConn): the
    generator's return value. An exception of the I/O is thrown into the generator at the
    step that asked for it, as Session.run() does. s: the Session (its reader and OAuth
    tokens), or None for a step that asks only for writes and reads (mailer.https)."""
    answer = exc = None
    while True:
        try:
            op = gen.throw(exc) if exc else gen.send(answer)
        except StopIteration as e:
            return e.value
        answer = exc = None
        try:
            if op == _READ:
                answer = await conn.read(_READ_SIZE)
            elif op == _TLS:
                await conn.starttls(s.reader.pending())
            elif op == _CLOSE:
                conn.close()
            elif op == _TOKEN or op == _FRESH:
                # A refresh goes over HTTPS on asyncio too (oauth2.TokenSource.atoken).
                answer = await s.tokens.atoken(op == _FRESH)
            else:  # bytes: write them whole
                await conn.write(op)
        except Exception as e:  # every failure goes back to the dialogue, which makes it a code
            exc = e


async def asession(c, log=None, messages=()):
    """c.session(log, messages) on an asyncio connection: a Session, not opened. POP before SMTP runs
    the blocking pop3 code (one short login, before the SMTP connection exists): its waits
    stay bounded by the same time-out and deadline, but other tasks pause for it."""
    deadline, tls_cfg, buf = c.prepare(log, messages)
    conn = await aconn.connect(c.host, c.port, c.timeout_ms, deadline, tls_cfg, implicit_tls=c.tls == "implicit")
    return c.on(conn, log, buf)


async def adeliver(cfg, messages, log=None, settings_path=None):
    """client.deliver(cfg, messages, log, settings_path), awaitable: one Result per message,
    never raises."""
    try:
        c = client.Client(cfg, settings_path)
    except Exception as e:
        err = client._error(e, "settings")
        return [client.Result(m.message_id, error=err) for m in messages]
    return await asend(c, messages, log)


async def asend(c, messages, log=None):
    """c.deliver(messages, log) (c: a client.Client), awaitable."""
    try:
        s = await asession(c, log, messages)
    except Exception as e:  # every failure becomes a code; nothing escapes a send
        return client._failed(messages, [], client._error(e, "connect"))
    return await arun(s, c.dialogue(s, messages), s.conn)
