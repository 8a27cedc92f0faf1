# The hostile-server cases of test_faults_host.py on CPython, through the awaitable send
# (mailer.aclient.adeliver on CPython's asyncio streams and start_tls): the same cases, codes,
# retry verdicts, time bounds and secrets checks, from the same test functions. They are
# imported here, and the autouse fixture below makes their deliver() go through asyncio (a
# fixture of this module applies to the tests collected in it only).
import asyncio
import time

import faultcases as fc
import pytest
import test_faults_host
from test_faults_host import (  # noqa: F401  (collected here, run through asyncio; ctx: their fixture)
    ctx,
    test_certificate_rejected_is_863,
    test_client_certificate_required,
    test_clock_unset_is_843_before_the_handshake,
    test_connection_refused_is_801_retry,
    test_nothing_in_common_is_841,
    test_pinned_certificate_without_a_clock_is_fine,
    test_plain_case,
    test_reset_after_certificate_request_is_841_not_retried,
    test_starttls_case,
    test_unresolvable_host_is_802,
)

from mailer import aclient, settings
from mailer.message import Message

RAN = []  # one entry per adeliver run: the fixture checks that the asyncio path was taken


def adeliver(path, rcpts=1, subject="Fault test"):
    """test_faults_host.deliver through aclient.adeliver: (Result, elapsed seconds, log lines)."""
    cfg = settings.load(path)
    # Dated by the caller: the clock tests unset the clock that the TLS context checks.
    msg = Message(cfg["mail"]["from"], list(fc.RCPTS[:rcpts]), subject=subject, body="Hello.\n", date=time.gmtime())
    log = []
    t0 = time.monotonic()
    (res,) = asyncio.run(aclient.adeliver(cfg, [msg], log=log.append))
    RAN.append(res)
    return res, time.monotonic() - t0, log


@pytest.fixture(autouse=True)
def through_asyncio(monkeypatch):
    monkeypatch.setattr(test_faults_host, "deliver", adeliver)
    del RAN[:]
    yield
    assert RAN
