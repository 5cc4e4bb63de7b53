"""The whole-call deadline (``timeout``) bounds a reply that never ends even while bytes keep
arriving: an endless stream of ``100 Continue`` heads, a one-byte drip. The read timeout alone
cannot (every byte re-arms it). In-memory peers on a MockClock with autojump: nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from okru_proto import TransportTimeout
from okru_proto.adapter import Request
from okru_trio._transport import H11Transport

URL = "http://127.0.0.1:8080/fb.do?access_token=SECRET"


def run_against(peer: Callable[[trio.abc.Stream, list[float]], Awaitable[None]], *, timeout: float,
                read_timeout: float) -> tuple[TransportTimeout, float, list[float]]:
    sent_at: list[float] = []

    async def main() -> tuple[TransportTimeout, float]:
        async with trio.open_nursery() as nursery:
            async def factory(host: str, port: int, tls: bool) -> trio.abc.Stream:
                client, server = trio.testing.memory_stream_pair()
                nursery.start_soon(peer, server, sent_at)
                return client

            async with H11Transport(stream_factory=factory, timeout=timeout, read_timeout=read_timeout) as t:
                start = trio.current_time()
                with pytest.raises(TransportTimeout) as info:
                    await t.send(Request("POST", URL, (), b"method=mediatopic.post"))
                elapsed = trio.current_time() - start
                assert not t._conns
            nursery.cancel_scope.cancel()
        return info.value, elapsed

    error, elapsed = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return error, elapsed, sent_at


async def endless_continue(stream: trio.abc.Stream, sent_at: list[float]) -> None:
    await stream.receive_some(65536)
    try:
        while True:
            await stream.send_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            sent_at.append(trio.current_time())
            await trio.sleep(1)  # well inside the read timeout: every head re-arms it
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def drip(stream: trio.abc.Stream, sent_at: list[float]) -> None:
    await stream.receive_some(65536)
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000
    try:
        for i in range(len(reply)):
            await stream.send_all(reply[i:i + 1])
            sent_at.append(trio.current_time())
            await trio.sleep(1)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


@pytest.mark.parametrize("peer", [endless_continue, drip], ids=["100-continue", "one-byte-drip"])
def test_the_whole_call_deadline_ends_a_reply_that_never_ends(
    peer: Callable[[trio.abc.Stream, list[float]], Awaitable[None]],
) -> None:
    error, elapsed, sent_at = run_against(peer, timeout=20, read_timeout=5)
    assert str(error).startswith("total timeout (20s) expired talking to 127.0.0.1:8080")
    assert "may have reached the server" in str(error)
    assert "SECRET" not in str(error)
    assert elapsed == pytest.approx(20, abs=1)
    assert len(sent_at) >= 19  # the peer kept talking the whole time: only the total deadline fired


def test_the_read_timeout_still_fires_when_the_drip_stops() -> None:
    async def stops(stream: trio.abc.Stream, sent_at: list[float]) -> None:
        await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.1 100 Continue\r\n\r\n")
        sent_at.append(trio.current_time())
        await trio.sleep_forever()

    error, elapsed, _ = run_against(stops, timeout=20, read_timeout=5)
    assert str(error).startswith("read timeout (5s) expired waiting for 127.0.0.1:8080")
    assert elapsed == pytest.approx(5, abs=0.5)
