# The policy layer (README, "Sending from your code"): the boot sequence, the main loop, and
# send(), the call user code makes. Boot: board -> status sink -> settings -> outbox -> Wi-Fi
# -> clock -> deliver what is queued; then the loop: button, due retries, status, forever.
# Nothing here stops the loop: a MailError is shown with its code, anything else with #869 and
# its traceback in a bounded log file on flash.
#
#   from mailer import app
#   app.send("Door", "The door opened.")        # queued on flash, then tried at once
#   app.run(task=my_check)                      # main.py: the loop, calling my_check() too
import os
import sys
import time

from mailer import board, client, netup
from mailer.compat import const, once, sleep_ms
from mailer.errors import MailError
from mailer.message import Message
from mailer.outbox import Outbox

# Device error codes (mailer.codes; README, "Device error codes").
_INTERNAL = const(869)  # internal error

LOOP_MS = const(50)  # button polling and, on a simulated board, status ticks
NET_RETRY_S = const(60)  # Wi-Fi or clock down: try again after this long
IDLE_S = const(3600)  # empty outbox: look again after this long (send() wakes it sooner)
LOG_MAX = const(4096)  # log.txt is moved to log.old beyond this: at most ~8 KiB of flash


class App:
    # root: prefix of the files on flash ("" on a board: settings.json, board.json, outbox/,
    # log.txt in the current folder). out: where the console sink prints.
    def __init__(self, root="", out=print, clock=time.time):
        self.root = root
        self.out = out
        self.clock = clock
        self.status = None
        self.cfg = None
        self.client = None
        self.outbox = None
        self.button = None
        self.board_name = "board"
        self.error = None  # why the board cannot send (settings, board): raised by send()
        self.clock_ok = False
        self.next_at = 0  # clock() when the loop next runs a delivery round
        self.board = {}  # the board definition boot() loaded
        self._held = False

    def boot(self):
        # Every step that fails is shown and the board goes on: a bad board.json still gets
        # a console, bad settings still show #861 on the board's own LED or display.
        b = {"console": True}
        try:
            b = board.load_board(self.board_name, self.root + "board.json")
        except MailError as e:
            self.error = e
        self.board = b
        self.board_name = b.get("name", self.board_name)
        self.status = board.make_status(b, out=self.out)
        self.button = board.button(b)
        if self.error:
            return self.show(self.error)
        try:
            # stamp: a new or edited file is checked now, once, and saved stamped, so that
            # later boots load it without the schema.
            # The settings module only for the load: none of its code stays on the heap.
            self.cfg = once("settings", "load", self.root + "settings.json", stamp=True)
            self.client = client.Client(self.cfg)
        except MailError as e:
            self.error = e
            return self.show(e)
        self.outbox = Outbox(self.root + "outbox", self.cfg["outbox"], self.clock)
        self.status.idle()

    def show(self, err):
        when = time.gmtime() if self.clock_ok else None
        self.status.error(err.code, err.detail, err.reply, when)

    def online(self):
        # Wi-Fi up (at once when it is) and, once per boot, the clock over NTP.
        netup.wifi_up(self.cfg["wifi"])
        if not self.clock_ok:
            netup.clock_set(self.cfg["clock"]["ntp_host"])
            self.clock_ok = True

    def offline(self):
        """None when online; else the MailError, shown, with the next try NET_RETRY_S on."""
        try:
            self.online()
            return None
        except MailError as e:
            self.next_at = self.clock() + NET_RETRY_S
            self.show(e)
            return e

    def deliver(self, first=None):
        """One delivery round of what is due (online); [(name, client.Result)], shown."""
        self.busy(first)
        return self.shown(self.outbox.deliver(self.client.deliver, first))

    def busy(self, first=None):
        # A round starts: busy on the status sink, unless nothing is due (an empty outbox at
        # boot is nothing to show as busy).
        if first or self.outbox.due():
            self.status.busy()

    def shown(self, done):
        # A round's results on the status sink, and when the loop runs the next one.
        bad = [r for _, r in done if not r.ok]
        if bad:
            self.show(bad[-1].error)
        elif done:
            self.status.sent(done[-1][1].message_id)
        else:
            self.status.idle()
        wait = self.outbox.next_due()
        self.next_at = self.clock() + (IDLE_S if wait is None else wait)
        return done

    def send(self, subject, body="", to=None, cc=(), bcc=(), attachments=()):
        """Queue a message on flash, then try to deliver it; returns its client.Result (ok, or
        .error with .retry True: it stays queued and is retried; False: moved to failed/).
        Not accepted (nothing queued): MailError #861 bad input or settings, #865 outbox
        full, #843/#860 when the clock was never set (a message needs its Date)."""
        name, res = self.queue(subject, body, to, cc, bcc, attachments)
        return res or self.deliver(name)[0][1]  # the new message goes first

    def queue(self, subject, body="", to=None, cc=(), bcc=(), attachments=()):
        # send()'s first half: (outbox name, None), or (name, Result) when offline.
        if self.error:
            raise self.error
        if not self.clock_ok:
            self.online()
        mail = self.cfg["mail"]
        atts = []
        if attachments:
            from mailer.attach import Attachment

            atts = [a if isinstance(a, Attachment) else Attachment(path=a) for a in attachments]
        msg = Message(mail["from"], to or mail["to"], mail["subject_prefix"] + subject, body, cc, bcc, atts)
        name = self.outbox.add(msg)
        err = self.offline()
        return name, err and client.Result(msg.message_id, error=err)

    def poll(self):
        """One turn of the loop: the button, due messages, the status sink. Returns the ms
        the caller may sleep."""
        if self.pressed():
            try:
                self.send(*self.test_mail())
            except MailError as e:  # not accepted (#865 full, #860 before the clock): shown
                self.show(e)
        if self.due_now():
            self.deliver()
        left = self.status.tick()
        return LOOP_MS if left < 0 else min(left, LOOP_MS)

    def pressed(self):
        # The button went down since the last look (and the board can send).
        held = bool(self.button) and self.button.pressed()
        new = held and not self._held and not self.error
        self._held = held
        return new

    def test_mail(self):
        return "Test from " + self.board_name, "Sent with the board's button.\n"

    def due_now(self):
        # A delivery round is due, and the board is online for it.
        return bool(self.outbox) and self.clock() >= self.next_at and not self.offline()

    def crashed(self, exc):
        # #869 on the status sink; the traceback appended to log.txt, which is moved to
        # log.old when it grows past LOG_MAX (so the log never fills the flash).
        log = self.root + "log.txt"
        try:
            if os.stat(log)[6] > LOG_MAX:
                os.rename(log, self.root + "log.old")  # LittleFS: replaces the old one
        except OSError:
            pass  # no log yet
        try:
            with open(log, "a") as f:
                f.write("%d %r\n" % (self.clock(), exc))
                _print_exception(exc, f)
        except OSError:
            pass  # a full or failing flash must not stop the loop either
        if self.status:
            self.status.error(_INTERNAL, repr(exc))

    def run(self, task=None):
        """The main loop, forever: poll(), then task() (user code) if given. A board whose
        definition says "asyncio": true runs mailer.aapp's loop instead (task() called there
        each turn too): the status sink animates and other tasks run during a send."""
        try:
            self.boot()
        except Exception as e:  # the loop below still runs (and shows it)
            self.crashed(e)
        if self.board.get("asyncio"):
            from mailer import aapp

            return aapp.run_app(self, aapp.each_turn(task) if task else None)
        while True:
            ms = LOOP_MS
            try:
                if self.status:
                    ms = self.poll()
                if task:
                    task()
            except Exception as e:  # the board never stops: #869, logged, next turn
                self.crashed(e)
            sleep_ms(ms)


def _print_exception(exc, f):
    if hasattr(sys, "print_exception"):
        sys.print_exception(exc, f)
    else:  # CPython
        import traceback

        traceback.print_exception(exc, file=f)


_app = None


def get():
    """The board's one App, booted on first use."""
    global _app
    if _app is None:
        _app = App()
        _app.boot()
    return _app


def send(subject, body="", to=None, cc=(), bcc=(), attachments=()):
    """App.send() on the board's App: see there."""
    return get().send(subject, body, to, cc, bcc, attachments)


def run(task=None):
    """main.py: boot and run the loop forever (user code: task(), called every turn)."""
    global _app
    _app = App()
    _app.run(task)
