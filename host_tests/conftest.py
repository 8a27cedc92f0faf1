import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "firmware"))
sys.path.insert(0, HERE)

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


def pytest_collection_modifyitems(items):
    # Tests in modules that run the firmware on the Unix port (they use host_tests/mpy.py) are
    # marked `unixport`; `make test` runs those a second time with MPY_OPT=1 (micropython -O1,
    # which strips assert statements) so that nothing depends on assert.
    for item in items:
        mod = getattr(item, "module", None)
        if mod is not None and "mpy" in vars(mod):
            item.add_marker(pytest.mark.unixport)
