# A real POP3 server for tests: a private Dovecot pop3d instance on 127.0.0.1 (CPython).
#
# Everything lives in one temporary directory (config, sockets, state, log, mail); nothing of
# the system's Dovecot configuration is read, and no system service is started. Two listeners:
# plain POP3 with STLS (RFC 2595) and implicit-TLS POP3S (RFC 8314). One user with a plaintext
# password ({PLAIN}), so that USER/PASS, and APOP (RFC 1939 7), can both be tested.
#
# Needs the Debian/Ubuntu package `dovecot-pop3d` (it pulls in `dovecot-core`):
#     sudo apt-get install -y dovecot-pop3d
# The package starts a system Dovecot on ports 110/995; this instance does not touch it.
# Started by root (CI), Dovecot drops privileges to the users the package creates (`dovecot`
# for internal processes, `dovenull` for the login processes) and reads mail as `nobody`.
# Started by an ordinary user, every process runs as that user: no privileges needed.
#
# In-process: DevPop3(certs).start() ... .stop(), or `with DevPop3(certs) as pop: ...`
# CLI:  python tools/devpop3.py [--no-ssl]   -> prints the ports, serves until Ctrl-C
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ""):  # run as a script: make `tools` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tools.certs import make_certs  # noqa: E402

USER = "device@example.com"
PASSWORD = "pop-Pa55word"

CONF = """\
# Private test instance written by tools/devpop3.py; nothing else is read.
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
instance_name = devpop3-{tag}
protocols = pop3
listen = 127.0.0.1
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = 1
# No 2 s pause after a wrong password: the tests try wrong ones on purpose.
auth_failure_delay = 0
# USER/PASS in clear must be possible (allow_plain_password tests); APOP needs the passdb
# to hold plaintext passwords, which the passwd-file below does.
disable_plaintext_auth = no
auth_mechanisms = plain apop
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {dir}/passwd
}}
userdb {{
  driver = passwd-file
  args = {dir}/passwd
}}
mail_location = maildir:{dir}/mail/%u
ssl = {ssl}
{ssl_conf}
# chroot needs root; the instance must also run as an ordinary user.
service anvil {{
  chroot =
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3s_port}
    ssl = yes
  }}
}}
"""

SSL_CONF = """\
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
"""


def dovecot_path():
    # Debian puts it in /usr/sbin, which an ordinary user's PATH may lack.
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DevPop3:
    """A private Dovecot pop3d: .port (POP3 + STLS), .pop3s_port (implicit TLS), .user,
    .password, .certs (tools.certs paths: ca_der verifies it), .log_path. ssl=False gives a
    server that offers no STLS and no POP3S (then .pop3s_port is None)."""

    def __init__(self, certs=None, ssl=True, user=USER, password=PASSWORD):
        self.certs = certs
        self.ssl = ssl
        self.user = user
        self.password = password
        self.port = None
        self.pop3s_port = None
        self.proc = None
        self.dir = None
        self.log_path = None

    def _write_config(self):
        d = self.dir
        if os.geteuid() == 0:
            # Root: Dovecot drops privileges; the directory must be open to those users.
            internal, login, mail_user = "dovecot", "dovenull", pwd.getpwnam("nobody")
            group = "dovecot"
            os.chmod(d, 0o755)
        else:
            me = pwd.getpwuid(os.getuid())
            internal = login = me.pw_name
            group = grp.getgrgid(me.pw_gid).gr_name
            mail_user = me
        os.makedirs(os.path.join(d, "mail"))
        os.chown(os.path.join(d, "mail"), mail_user.pw_uid, mail_user.pw_gid)
        with open(os.path.join(d, "passwd"), "w") as f:
            f.write(
                "%s:{PLAIN}%s:%d:%d::%s/mail::\n" % (self.user, self.password, mail_user.pw_uid, mail_user.pw_gid, d)
            )
        if self.ssl and self.certs is None:
            self.certs = make_certs(os.path.join(d, "certs"))
        ssl_conf = SSL_CONF.format(cert=self.certs["server_pem"], key=self.certs["server_key"]) if self.ssl else ""
        self.port = _free_port()
        # With ssl = no a listener with ssl = yes is refused; port 0 disables it.
        self.pop3s_port = _free_port() if self.ssl else None
        conf = CONF.format(
            dir=d,
            tag=os.getpid(),
            internal=internal,
            group=group,
            login=login,
            ssl="yes" if self.ssl else "no",
            ssl_conf=ssl_conf,
            port=self.port,
            pop3s_port=self.pop3s_port or 0,
        )
        path = os.path.join(d, "dovecot.conf")
        with open(path, "w") as f:
            f.write(conf)
        return path

    def start(self, timeout=15):
        exe = dovecot_path()
        if not exe:
            raise RuntimeError("dovecot not installed: apt-get install dovecot-pop3d")
        self.dir = tempfile.mkdtemp(prefix="devpop3-")
        self.log_path = os.path.join(self.dir, "dovecot.log")
        conf = self._write_config()
        # Own session, so that stop() can end the master and every child it forked.
        self.proc = subprocess.Popen(
            [exe, "-F", "-c", conf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        end = time.monotonic() + timeout
        try:
            for port in (self.port, self.pop3s_port):
                while port:
                    if self.proc.poll() is not None:
                        raise RuntimeError("dovecot exited: " + self._output())
                    if time.monotonic() > end:
                        raise RuntimeError("dovecot not listening on %d: %s" % (port, self._output()))
                    try:
                        socket.create_connection(("127.0.0.1", port), 0.5).close()
                        break
                    except OSError:
                        time.sleep(0.05)
        except BaseException:
            self.stop()
            raise
        return self

    def _output(self):
        text = ""
        if self.proc.poll() is not None and self.proc.stdout:
            text = self.proc.stdout.read().decode(errors="replace")
        if self.log_path and os.path.exists(self.log_path):
            with open(self.log_path, errors="replace") as f:
                text += f.read()
        return text.strip()[-2000:]

    def log(self):
        """Dovecot's log so far (text)."""
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()  # the master stops its children, then exits
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    # Still not reaped, so the group id is still ours: end the whole group.
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(5)
            self.proc.stdout.close()
            self.proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    # SIGTERM too must leave through stop(): Dovecot runs in its own session and would stay.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    with DevPop3(ssl="--no-ssl" not in argv) as pop:
        print(
            "ready pop3=%d pop3s=%s user=%s password=%s ca_der=%s"
            % (pop.port, pop.pop3s_port, pop.user, pop.password, pop.certs["ca_der"] if pop.certs else None),
            flush=True,
        )
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
