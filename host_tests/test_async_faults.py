# The hostile-server cases of test_faults.py on the Unix port, through the awaitable send
# (mailer.aclient.adeliver, a 10 ms ticker task beside it): the same cases, codes, retry
# verdicts, time bounds and secrets checks, from the same test functions. They are imported
# here, and the autouse fixture below makes their mp_send go through asyncio (a fixture of this
# module applies to the tests collected in it only; test_faults.py runs them blocking).
import mpsend
import pytest
import test_faults
from test_faults import (  # noqa: F401  (collected here, run through asyncio)
    test_case,
    test_certificate_rejected_is_863,
    test_client_certificate_required_is_841_on_mbedtls,
    test_connection_refused_is_801,
    test_implicit_tls_sent,
    test_nothing_in_common_is_841,
    test_pin_mismatch_is_863,
    test_reset_after_certificate_request_is_841_not_retried,
    test_unresolvable_host_is_802,
)


@pytest.fixture(autouse=True)
def through_asyncio(monkeypatch):
    def amp_send(path, rcpts=1, heapsize=None):
        out = mpsend.mp_send(path, rcpts, heapsize, use_asyncio=True)
        assert "\nticks " in out[4], out[4]  # the asyncio path ran, not the blocking one
        return out

    monkeypatch.setattr(test_faults, "mp_send", amp_send)
