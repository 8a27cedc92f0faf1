# `make simboard`: a simulated board. The MicroPython Unix port runs on a pseudo-terminal with a
# LittleFS2 image file as its flash (mounted as /), the `unix` board's simulated LED and
# display, and stand-in `machine`/`ssd1306`/`neopixel`/`network`/`ntptime` modules (its own
# import path, tools/simboard_path/); mpremote reaches it like a board on a USB serial port:
#     mpremote connect /dev/pts/N resume exec "import os; print(os.listdir())"
# (`resume`: without it mpremote soft-resets first, which ends the Unix port.)
#
# Two pseudo-terminals joined by a relay, as `socat PTY,link=... EXEC:micropython,pty` would
# do; Python's pty module does it here so that socat is one system package
# less to install. The board's side is its controlling terminal with ISIG on, so mpremote's
# Ctrl-C interrupts main.py as it does on a board; the user's side (printed, and linked from
# --link) is raw. Output nobody reads is dropped, as a UART drops it, so the board never
# blocks on its console. When the Unix port exits (sys.exit(), Ctrl-D at the REPL) the board
# "resets": it starts again on the same flash and runs main.py.
import argparse
import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
import threading
import tty

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The simulated board's own import path: what a real board has built in or installed
# (machine, ssd1306, ...), as stand-ins for the Unix port. make demo/send and the tests use it too.
SIM_PATH = os.path.join(HERE, "simboard_path")
BLOCK = 4096


def _micropython():
    return os.environ.get("MICROPYTHON") or os.path.join(os.path.dirname(sys.executable), "micropython")


def _controlling_tty():
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class SimBoard:
    """start() -> the pty path mpremote connects to; stop() ends the board. run_main: run
    main.py at every start (as a board does), or only at restarts after the first."""

    def __init__(self, image, size_kib=2048, run_main=True):
        self.image = image
        self.run_main = run_main
        self.proc = None
        self.starts = 0
        self._stopping = False
        if not os.path.exists(image):
            with open(image, "wb") as f:
                f.write(b"\xff" * (size_kib * 1024 // BLOCK * BLOCK))  # erased NOR flash
        self.user, self._user_slave = pty.openpty()
        tty.setraw(self.user)
        tty.setraw(self._user_slave)  # kept open: the user's side never reads as hung up
        os.set_blocking(self.user, False)
        self.path = os.ttyname(self._user_slave)

    def _spawn(self):
        board, slave = pty.openpty()
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[3] |= termios.ISIG  # Ctrl-C from mpremote -> SIGINT -> KeyboardInterrupt
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        args = [_micropython(), "-i", os.path.join(SIM_PATH, "simboot.py"), os.path.abspath(self.image)]
        if self.run_main or self.starts:
            args.append("main")
        self.proc = subprocess.Popen(
            args,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=_controlling_tty,
            env=dict(os.environ, MICROPYPATH=SIM_PATH),
        )
        os.close(slave)
        self.starts += 1
        return board

    def start(self):
        self._board = self._spawn()
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()
        return self.path

    def _relay(self):
        board = self._board
        while not self._stopping:
            r, _, _ = select.select([board, self.user], [], [], 0.2)
            try:
                if board in r:
                    data = os.read(board, 4096)
                    try:
                        os.write(self.user, data)
                    except BlockingIOError:
                        pass  # nobody reading: dropped, as a UART drops it
                if self.user in r:
                    os.write(board, os.read(self.user, 4096))
            except OSError:  # EIO: the Unix port exited -> the board resets
                os.close(board)
                self.proc.wait()
                if self._stopping:
                    return
                board = self._board = self._spawn()

    def stop(self):
        self._stopping = True
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._thread.join(2)
        for fd in (self.user, self._user_slave):
            os.close(fd)


def main(argv=None):
    ap = argparse.ArgumentParser(description="A simulated board on a pseudo-terminal.")
    ap.add_argument(
        "--flash", default=os.path.join(ROOT, "build", "simflash.img"), help="LittleFS2 image (made blank if missing)"
    )
    ap.add_argument("--size-kib", type=int, default=2048)
    ap.add_argument(
        "--link",
        default=os.path.join(ROOT, "build", "simboard.pty"),
        help="symlink to the pty, for PORT= (empty: none)",
    )
    a = ap.parse_args(argv)
    os.makedirs(os.path.dirname(os.path.abspath(a.flash)), exist_ok=True)
    sim = SimBoard(a.flash, a.size_kib)
    path = sim.start()
    if a.link:
        if os.path.lexists(a.link):
            os.remove(a.link)
        os.symlink(path, a.link)
    print(
        "simulated board on %s%s, flash %s; Ctrl-C to stop" % (path, " (%s)" % a.link if a.link else "", a.flash),
        flush=True,
    )
    try:
        while True:
            sim._thread.join(1)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        if a.link and os.path.lexists(a.link):
            os.remove(a.link)


if __name__ == "__main__":
    main()
