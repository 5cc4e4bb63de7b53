"""Expiry under concurrency (issue 8): 200 concurrent calls hit an expired token; exactly one
refresh request reaches the emulator and all 200 calls succeed. On each async adapter (anyio
tasks) and on the blocking httpx adapter (200 threads)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import anyio
import pytest

from okru_proto import Endpoints
from okru_proto.testing import FakeOK
from okru_trio.testing import run_fake_server
from tests.adapters import Adapter
from tests.reliability.load import ASYNC_ADAPTERS, load_options

CONCURRENT = 200


@pytest.fixture
def server() -> Iterator[tuple[FakeOK, str]]:
    fake = FakeOK(seed=102)
    with run_fake_server(fake) as url:
        yield fake, url


def _expired_token(fake: FakeOK) -> dict[str, str]:
    token = fake.issue_token()
    fake.clock.advance(1801)  # the access token is now past its 30 minutes: every call gets 102
    return token


def _check(fake: FakeOK, results: list[object], token: dict[str, str]) -> None:
    assert results == [fake.user_id] * CONCURRENT
    refreshes = fake.calls("/oauth/token.do")
    assert len(refreshes) == 1, f"{len(refreshes)} refresh requests reached the emulator"
    assert refreshes[0].params["grant_type"] == "refresh_token"
    calls = fake.calls("users.getLoggedInUser")
    expired = [c for c in calls if c.params.get("access_token") == token["access_token"]]
    # Every call that used the old token got 102 and was replayed once with the new one.
    assert len(calls) == CONCURRENT + len(expired)
    assert expired, "no call hit the expired token"
    print(f"\n{len(expired)} of {CONCURRENT} calls hit the expired token; 1 refresh; "
          f"{len(calls)} REST requests")


@pytest.mark.anyio
@pytest.mark.network
@pytest.mark.timeout(60)
@pytest.mark.parametrize("adapter_name", ASYNC_ADAPTERS)
async def test_rel_expiry_one_refresh_for_200_concurrent_calls(adapter: Adapter,
                                                               server: tuple[FakeOK, str]) -> None:
    fake, url = server
    token = _expired_token(fake)
    results: list[object] = []
    with anyio.fail_after(30):
        async with adapter.module.ServerSession(
                fake.app_id, fake.app_key, fake.app_secret_key, token["access_token"],
                refresh_token=token["refresh_token"], endpoints=Endpoints(api=url, connect=url),
                **load_options(adapter, 20.0)) as session:
            start = anyio.Event()

            async def one() -> None:
                await start.wait()  # all 200 start together, all with the expired token
                results.append(await session.call("users.getLoggedInUser"))

            async with anyio.create_task_group() as tg:
                for _ in range(CONCURRENT):
                    tg.start_soon(one)
                await anyio.sleep(0)
                start.set()
            assert session.access_token != token["access_token"]
            assert session.refresh_token == token["refresh_token"]  # OK sends no new one
    _check(fake, results, token)


@pytest.mark.network
@pytest.mark.timeout(60)
def test_rel_expiry_one_refresh_for_200_threads_sync_httpx(server: tuple[FakeOK, str]) -> None:
    import threading

    from okru_httpx.sync import ServerSession

    fake, url = server
    token = _expired_token(fake)
    with ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, token["access_token"],
                       refresh_token=token["refresh_token"], endpoints=Endpoints(api=url, connect=url),
                       timeout=20.0) as session:
        barrier = threading.Barrier(CONCURRENT)

        def one(n: int) -> object:
            barrier.wait(20)  # all 200 threads start at once
            return session.call("users.getLoggedInUser")

        with concurrent.futures.ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
            results = list(pool.map(one, range(CONCURRENT), timeout=30))
        assert session.access_token != token["access_token"]
    _check(fake, results, token)
