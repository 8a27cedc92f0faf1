# The board on asyncio (README, "Sending from your code"): mailer.app's boot, outbox and
# status, with the sends awaited (mailer.aclient) so that the status sink animates during them
# (a task ticks it: LED / NeoPixel busy blink, display spinner) and the user's own tasks keep
# running. The outbox's policy is its own begin()/settle() round, as in the blocking loop.
# Imported only when asked for: main.py calls aapp.run(), or the board definition says
# "asyncio": true and app.run() hands over.
#
#   from mailer import aapp
#   async def sensor():                       # the user's task, beside the outbox and status
#       while True:
#           if door_open():
#               await aapp.send("Door", "The door opened.")
#           await asyncio.sleep_ms(100)
#   aapp.run(task=sensor)
import asyncio

from mailer import aclient, app
from mailer.app import LOOP_MS
from mailer.compat import const
from mailer.errors import MailError

RESTART_MS = const(1000)  # a user task that raised runs again after this long


def _sleep_ms(ms):
    return asyncio.sleep_ms(ms) if hasattr(asyncio, "sleep_ms") else asyncio.sleep(ms / 1000)


async def deliver(a, first=None):
    """App.deliver(first), awaited: one delivery round of what is due; [(name, Result)]."""
    a.busy(first)
    names, msgs, out = a.outbox.begin(first)
    results = await aclient.asend(a.client, msgs) if msgs else []
    return a.shown(a.outbox.settle(names, results, out))


async def send(subject, body="", to=None, cc=(), bcc=(), attachments=()):
    """app.send(), awaited, on the board's App: queued on flash, then delivered while the
    other tasks run; returns its client.Result (MailError when not accepted, as app.send)."""
    a = app.get()
    name, res = a.queue(subject, body, to, cc, bcc, attachments)
    return res or (await deliver(a, name))[0][1]


async def poll(a):
    # App.poll's turn, awaited; the status sink is ticked by animate().
    if a.pressed():
        try:
            await send(*a.test_mail())
        except MailError as e:  # not accepted (#865 full, #860 before the clock): shown
            a.show(e)
    if a.due_now():
        await deliver(a)


async def animate(a):
    # The status sink's patterns (busy blink, spinner, error code), during sends too.
    while True:
        left = a.status.tick() if a.status else -1
        await _sleep_ms(LOOP_MS if left < 0 else max(1, min(left, LOOP_MS)))


async def guard(a, task):
    # The user's task: what it raises is shown (#869) and logged, and it starts again.
    while True:
        try:
            await task()
            return
        except Exception as e:
            a.crashed(e)
        await _sleep_ms(RESTART_MS)


def each_turn(fn):
    """A blocking task() (app.run's kind) as an asyncio task: called every loop turn."""

    async def turns():
        while True:
            fn()
            await _sleep_ms(LOOP_MS)

    return turns


async def main(a, task=None):
    """The board's loop on asyncio, forever: the outbox rounds and the button here, the
    status sink in animate(), task (an async function, user code) beside them."""
    asyncio.create_task(animate(a))
    if task:
        asyncio.create_task(guard(a, task))
        await _sleep_ms(0)  # the user's task starts first: what it sets up, the loop sees
    while True:
        try:
            if a.status:
                await poll(a)
        except Exception as e:  # the board never stops: #869, logged, next turn
            a.crashed(e)
        await _sleep_ms(LOOP_MS)


def run_app(a, task=None):
    """main(a, task) on a booted App, forever."""
    asyncio.run(main(a, task))


def run(task=None):
    """main.py: boot the board's App and run the asyncio loop forever, task beside it."""
    a = app.App()
    app._app = a
    try:
        a.boot()
    except Exception as e:  # the loop still runs (and shows it)
        a.crashed(e)
    run_app(a, task)
