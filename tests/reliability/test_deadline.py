"""Bounded time (issue 11) on every adapter: ``timeout=`` is the whole-call deadline of one HTTP
exchange, whatever the server does to stretch it.

A hostile loopback server (tests/hostile.py) sends ``100 Continue`` forever, or drips a valid
reply one byte per 20 ms (in the head or in the body) for 30 s; each read alone is quick, so
per-read timeouts never fire. With ``timeout=0.25`` every adapter must end the call with our
TransportTimeout naming the limit long before the server would stop. The bound asserted is
generous (a loaded CI machine), and the server stops itself in any case.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from okru_proto import Error, TransportTimeout
from tests.adapters import Adapter
from tests.hostile import HostileServer, continue_forever, drip, raw

ARGS = ("512000000001", "CBAKEY", "APP-SECRET-XYZ", "tok.SECRET-ACCESS-TOKEN-123")
TIMEOUT = 0.25
BOUND = 4.0  # seconds: the call must be over by then (the drip would go on for 30 s)

SCRIPTS = {
    "100-continue-forever": lambda: continue_forever(0.02),
    "drip-head": lambda: drip(0.02, phase="head"),
    "drip-body": lambda: drip(0.02, phase="body"),
}


async def _timed_call(adapter: Adapter, server: HostileServer, **options: Any) -> tuple[BaseException, float]:
    session = adapter.module.ServerSession(*ARGS, endpoints=server.endpoints, **options)
    try:
        start = time.monotonic()
        with pytest.raises(Error) as caught:
            await adapter.run(session.call, "users.getLoggedInUser")
        return caught.value, time.monotonic() - start
    finally:
        await adapter.close(session)


@pytest.mark.anyio
@pytest.mark.network
@pytest.mark.parametrize("script", sorted(SCRIPTS))
async def test_rel_whole_call_deadline_bounds_a_stretching_server(adapter: Adapter, script: str) -> None:
    with HostileServer(SCRIPTS[script](), lifetime=20.0) as server:
        error, elapsed = await _timed_call(adapter, server, timeout=TIMEOUT)
        assert len(server.heads) == 1  # the request did reach the server
    assert isinstance(error, TransportTimeout), repr(error)
    assert elapsed < BOUND, f"{script}: the call took {elapsed:.1f} s with timeout={TIMEOUT}"
    assert elapsed >= TIMEOUT * 0.9
    assert f"{TIMEOUT:g}" in str(error) and "127.0.0.1" in str(error)
    assert error.__cause__ is not None


@pytest.mark.anyio
@pytest.mark.network
async def test_rel_read_timeout_names_itself(adapter: Adapter) -> None:
    # The server reads the request and never answers: the per-read limit fires first.
    with HostileServer(raw(b"", then_close=False), lifetime=20.0) as server:
        error, elapsed = await _timed_call(adapter, server, timeout=None, read_timeout=0.2)
    assert isinstance(error, TransportTimeout), repr(error)
    assert elapsed < BOUND
    assert "read" in str(error) and "0.2" in str(error)


# -- a client of the user's own (httpx adapters) ------------------------------------------------------

@pytest.mark.anyio
@pytest.mark.network
@pytest.mark.parametrize("adapter_name", ["httpx-asyncio", "httpx-trio"])
@pytest.mark.parametrize("script", ["100-continue-forever", "drip-body"])
async def test_rel_users_async_client_is_bounded_in_every_phase(adapter: Adapter, script: str) -> None:
    """The async adapter bounds a client of yours from outside (a cancel scope), never touching it."""
    client = adapter.user_client(timeout=5.0)
    try:
        with HostileServer(SCRIPTS[script](), lifetime=20.0) as server:
            error, elapsed = await _timed_call(adapter, server, timeout=TIMEOUT, client=client)
        assert client.timeout.read == 5.0 and not client.is_closed
    finally:
        await adapter.close_client(client)
    assert isinstance(error, TransportTimeout), repr(error)
    assert elapsed < BOUND and f"{TIMEOUT:g}" in str(error)


@pytest.mark.anyio
@pytest.mark.network
@pytest.mark.parametrize("adapter_name", ["httpx-sync"])
async def test_rel_users_blocking_client_body_is_bounded(adapter: Adapter) -> None:
    """A blocking client of yours cannot be cancelled: each wait is capped at ``timeout`` and the
    body is checked against the deadline between chunks, so a dripped body still ends (by
    ``timeout`` plus at most one read). docs/limits.md says what is not bounded then."""
    client = adapter.user_client(timeout=5.0)
    try:
        with HostileServer(drip(0.02, phase="body"), lifetime=20.0) as server:
            error, elapsed = await _timed_call(adapter, server, timeout=TIMEOUT, client=client)
        assert client.timeout.read == 5.0 and not client.is_closed
    finally:
        await adapter.close_client(client)
    assert isinstance(error, TransportTimeout), repr(error)
    assert elapsed < BOUND and f"{TIMEOUT:g}" in str(error)
