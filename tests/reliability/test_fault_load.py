"""Fault load (issue 8, reliability): 1,000 signed calls at concurrency 100 on each async adapter
against the loopback emulator injecting 5% connection resets, 5% HTTP 502, 5% flood errors (8)
and 1% responses slower than the session's timeout.

Issue 8 asked for 2,000 calls; ``OKRU_FAULT_LOAD_CALLS=2000`` runs that size. The default is 1,000
because httpcore's pool scans every connection for every queued request (quadratic at 100
connections: ~10 s of CPU per httpx run at 2,000 calls), while the concurrency, the fault rates and
every assertion below are the same; the emulator's seeded fault draws still inject each fault kind
(about 50 resets, 50 502s, 50 floods, 10 slow answers).

* without retries every call ends (the whole run is under a hard deadline) with the result or one
  of our typed errors, and each fault kind shows up as its own error type;
* with the retry policy on, every call succeeds;
* no file descriptor or socket is left open once the session is closed (counted before/after);
* the session stays usable after the storm.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

import okru_proto
from okru_proto import Endpoints, RetryPolicy
from okru_proto.testing import FakeOK
from okru_trio.testing import run_fake_server
from tests.adapters import Adapter
from tests.reliability.load import ASYNC_ADAPTERS, count_sockets, leaked, load_options, open_fds, wait_for_fds

CALLS = int(os.environ.get("OKRU_FAULT_LOAD_CALLS", "1000"))
CONCURRENCY = 100
RATES = {"reset": 0.05, "http_502": 0.05, "flood": 0.05, "slow": 0.01}
TIMEOUT = 0.5  # the session's timeout
SLOW = 0.8  # a "slow" answer comes this late: always over the timeout
DEADLINE = 60.0  # the whole run, hard


@pytest.fixture
def server() -> Iterator[tuple[FakeOK, str]]:
    """A fresh emulator on a loopback server in a background thread of this process (started
    and stopped outside the test's event loop)."""
    fake = FakeOK(seed=8)
    with run_fake_server(fake) as url:
        yield fake, url


def _count_injected(fake: FakeOK) -> Counter[str]:
    """Wrap the emulator's fault plan so the test knows how many of each fault it injected."""
    injected: Counter[str] = Counter()
    take = fake.faults.take

    def counting_take(call: str, is_rest: bool) -> Any:
        fault = take(call, is_rest)
        if fault is not None:
            injected[fault[0]] += 1
        return fault

    fake.faults.take = counting_take  # type: ignore[method-assign]
    return injected


@pytest.mark.anyio
@pytest.mark.network
@pytest.mark.timeout(DEADLINE * 2)
@pytest.mark.parametrize("adapter_name", ASYNC_ADAPTERS)
@pytest.mark.parametrize("retry", [False, True], ids=["no-retry", "retry"])
async def test_rel_fault_load(adapter: Adapter, retry: bool, server: tuple[FakeOK, str]) -> None:
    fake, url = server
    injected = _count_injected(fake)
    outcomes: Counter[str] = Counter()
    strays: list[BaseException] = []
    wrong: list[Any] = []
    if True:  # the server runs in its own thread (the fixture), started before the baseline
        token = fake.issue_token()
        fake.fault_rates(slow_seconds=SLOW, **RATES)
        baseline = open_fds()
        policy = RetryPolicy(attempts=10, base=0.001, cap=0.01) if retry else None
        session = adapter.module.ServerSession(
            fake.app_id, fake.app_key, fake.app_secret_key, token["access_token"],
            endpoints=Endpoints(api=url, connect=url), retry=policy, **load_options(adapter, TIMEOUT))
        started = time.monotonic()
        with anyio.fail_after(DEADLINE):  # no hang: every call ends, or this fails the test
            async with session:

                async def worker(first: int) -> None:
                    for _ in range(first, CALLS, CONCURRENCY):
                        try:
                            result = await session.call("users.getLoggedInUser")
                        except okru_proto.Error as exc:
                            outcomes[type(exc).__name__] += 1
                        except Exception as exc:  # anything else escaping is a bug
                            strays.append(exc)
                        else:
                            outcomes["ok"] += 1
                            if result != fake.user_id:
                                wrong.append(result)

                async with anyio.create_task_group() as tg:
                    for first in range(CONCURRENCY):
                        tg.start_soon(worker, first)
                elapsed = time.monotonic() - started
                busy_sockets = count_sockets(open_fds())

                # The session is still usable after the storm.
                fake.clear_faults()
                for _ in range(5):
                    assert await session.call("users.getLoggedInUser") == fake.user_id
        after = wait_for_fds(baseline)
        received = len(fake.requests)

    print(f"\n[{adapter.name} retry={retry}] {CALLS} calls at concurrency {CONCURRENCY} in {elapsed:.2f} s; "
          f"requests received {received}; injected {dict(injected)}; outcomes {dict(outcomes)}; "
          f"sockets open during run (client+server) {busy_sockets}")
    assert not strays, f"non-okru exceptions escaped: {strays[:5]!r}"
    assert not wrong, f"wrong results: {wrong[:5]!r}"
    assert sum(outcomes.values()) == CALLS
    # The faults really happened, at about their rates (one draw per REST request).
    for fault in ("reset", "http_502", "flood", "slow"):
        assert injected[fault] > 0, injected
    if retry:
        assert outcomes == Counter(ok=CALLS), outcomes
        assert received > CALLS  # the retried attempts reached the emulator
    else:
        allowed = {"ok", "TransportError", "TransportTimeout", "HTTPStatusError", "FloodBlockedError"}
        assert set(outcomes) <= allowed, outcomes
        # Each injected kind surfaces as its own typed error.
        assert outcomes["FloodBlockedError"] > 0 and outcomes["HTTPStatusError"] > 0
        assert outcomes["TransportError"] > 0 and outcomes["TransportTimeout"] > 0
        assert outcomes["ok"] >= CALLS * 0.7
    # No fd or connection outlives the closed session (the server's side included).
    assert len(after) <= len(baseline), f"fds leaked: {leaked(baseline, after)}"
    assert count_sockets(after) <= count_sockets(baseline)


@pytest.mark.network
@pytest.mark.timeout(30)
def test_rel_trio_reset_on_two_pooled_connections_is_a_transport_error(server: tuple[FakeOK, str]) -> None:
    """Regression: two idle keep-alive connections, the server resets the request on both. The
    request was written before each reset, so each is our TransportError (never re-sent, never
    the transport's private signal), and the next call works on a fresh connection."""
    import trio

    import okru_trio

    fake, url = server
    token = fake.issue_token()

    async def main() -> None:
        with trio.fail_after(20):
            await scenario()

    async def scenario() -> None:
        async with okru_trio.ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, token["access_token"],
                                           endpoints=Endpoints(api=url, connect=url), timeout=10.0) as session:
            fake.inject("slow", seconds=0.05, times=2)  # two overlapping calls: two pooled connections
            async with trio.open_nursery() as nursery:
                for _ in range(2):
                    nursery.start_soon(session.call, "users.getLoggedInUser")
            fake.inject("reset", times=2)
            for _ in range(2):
                with pytest.raises(okru_proto.TransportError, match="may have reached the server"):
                    await session.call("users.getLoggedInUser")
            assert await session.call("users.getLoggedInUser") == fake.user_id

    trio.run(main)
