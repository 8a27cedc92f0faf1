import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "firmware"))
sys.path.insert(0, HERE)

import mpy  # noqa: E402
import pytest  # noqa: E402

from tools.certs import make_certs  # noqa: E402
from tools.devserver import DevServer  # noqa: E402

SMTP_USER = "device@example.com"
SMTP_PASSWORD = "s3cret-Pa55"


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """make_certs() paths and fingerprints (CA, server and its failing variants, client CA)."""
    return make_certs(str(tmp_path_factory.mktemp("certs")))


@pytest.fixture
def smtpd_factory(certs):
    """smtpd_factory(**options) -> a started tools.devserver.DevServer (options as its
    constructor: starttls, require_tls, auth_required, mechanisms, pipelining, size, cert,
    client_ca, users); the user SMTP_USER/SMTP_PASSWORD exists unless users= says otherwise.
    Every server made is stopped at the end of the test."""
    made = []

    def make(**options):
        options.setdefault("users", {SMTP_USER: SMTP_PASSWORD})
        server = DevServer(certs, **options)
        made.append(server)
        return server.start()

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def smtpd(smtpd_factory):
    """STARTTLS and AUTH required (PLAIN, LOGIN, CRAM-MD5), PIPELINING, implicit-TLS listener:
    .port, .implicit_port, .messages, .certs, .users."""
    return smtpd_factory()


# The tests that ran the firmware on the Unix port through mpy.run(), which honours MPY_OPT: with
# UNIXPORT_TESTS=path their node ids are written there at the end, and `make test` runs just those
# a second time with MPY_OPT=1 (micropython -O1, which strips assert statements), so that nothing
# depends on assert. Noted as they run, so a CPython-only test in the same file is not repeated.
_RAN_ON_PORT = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    before = mpy.RUNS
    try:
        return (yield)
    finally:
        if mpy.RUNS != before:
            _RAN_ON_PORT.append(item.nodeid)


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("UNIXPORT_TESTS")
    if path:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as f:
            f.write("".join(n + "\n" for n in _RAN_ON_PORT))
