"""H11Transport over in-memory streams: pooling, keep-alive, retries, timeouts, cancellation, errors.

No sockets here: every connection is a ``trio.testing.memory_stream_pair`` whose server end runs a
small h11 server (or a deliberately broken one) in the test's nursery. Timeouts run on a
``MockClock`` with autojump, so nothing sleeps for real.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import h11
import pytest
import trio
import trio.testing

import okru_proto
import okru_proto.adapter
from okru_proto import ProtocolError, TransportError, TransportTimeout, UsageError
from okru_proto.adapter import Request, Response
from okru_proto.testing import FakeOK
from okru_trio._transport import H11Transport

TOKEN = "-s-secret-token-value"
MAY_HAVE_RUN = (
    "the request may have reached the server and run there; check before repeating a call that "
    "changes something"
)
URL = f"http://127.0.0.1:8080/fb.do?method=users.getInfo&access_token={TOKEN}"

Handler = Callable[[h11.Request, bytes], Awaitable[tuple[int, list[tuple[bytes, bytes]], bytes]]]


def trio_test(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test under trio with a MockClock that jumps whenever every task is blocked."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        trio.run(functools.partial(fn, *args, **kwargs), clock=trio.testing.MockClock(autojump_threshold=0))

    wrapper.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    return wrapper


async def echo(request: h11.Request, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    headers = b"".join(b"%s: %s\n" % (n, v) for n, v in request.headers)
    out = b"%s %s\n%s\n%s" % (request.method, request.target, headers, body)
    return 200, [(b"content-type", b"text/plain")], out


class Server:
    """Accepts in-memory connections and serves them with h11 (or with a custom raw routine)."""

    def __init__(
        self,
        nursery: trio.Nursery,
        handler: Handler = echo,
        *,
        raw: Callable[[trio.abc.Stream, int], Awaitable[None]] | None = None,
        close_after: int | None = None,
    ) -> None:
        self.nursery = nursery
        self.handler = handler
        self.raw = raw
        self.close_after = close_after
        self.opened = 0
        self.open_now = 0
        self.max_open = 0
        self.requests = 0
        self.closed_by_client = 0

    async def factory(self, host: str, port: int, use_tls: bool) -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        self.opened += 1
        self.open_now += 1
        self.max_open = max(self.max_open, self.open_now)
        self.nursery.start_soon(self._serve, server, self.opened)
        return client

    async def _serve(self, stream: trio.abc.Stream, number: int) -> None:
        try:
            if self.raw is not None:
                await self.raw(stream, number)
            else:
                await self._serve_h11(stream)
        finally:
            self.open_now -= 1
            await trio.aclose_forcefully(stream)

    async def _serve_h11(self, stream: trio.abc.Stream) -> None:
        conn = h11.Connection(h11.SERVER)
        served = 0
        while True:
            request: h11.Request | None = None
            body = b""
            while True:
                ev = conn.next_event()
                if ev is h11.NEED_DATA:
                    try:
                        data = await stream.receive_some(65536)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        return
                    if not data:
                        self.closed_by_client += 1
                        return
                    conn.receive_data(data)
                elif isinstance(ev, h11.Request):
                    request = ev
                elif isinstance(ev, h11.Data):
                    body += ev.data
                elif isinstance(ev, h11.EndOfMessage):
                    break
                else:  # pragma: no cover
                    return
            assert request is not None
            self.requests += 1
            status, headers, payload = await self.handler(request, body)
            headers = [*headers, (b"content-length", b"%d" % len(payload))]
            out = conn.send(h11.Response(status_code=status, headers=headers))
            out += conn.send(h11.Data(data=payload)) + conn.send(h11.EndOfMessage())
            try:
                await stream.send_all(out)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            served += 1
            if conn.our_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
            if self.close_after is not None and served >= self.close_after:
                # A keep-alive timer firing on the server: close while the client holds it idle.
                return


def transport(server: Server, **kwargs: Any) -> H11Transport:
    return H11Transport(stream_factory=server.factory, **kwargs)


def pool_size(t: H11Transport) -> int:
    return sum(len(origin.idle) for origin in t._pools.values())


# -- basic exchange ------------------------------------------------------------------------------


@trio_test
async def test_get_roundtrip_adds_host_and_user_agent() -> None:
    async with trio.open_nursery() as nursery:
        server = Server(nursery)
        async with transport(server) as t:
            response = await t.send(Request("GET", URL, (("accept", "application/json"),)))
            assert isinstance(response, Response)
            assert response.status == 200
            assert response.header("content-type") == "text/plain"
            lines = response.body.split(b"\n")
            assert lines[0] == b"GET /fb.do?method=users.getInfo&access_token=" + TOKEN.encode()
            assert b"host: 127.0.0.1:8080" in lines
            assert b"user-agent: okru/0.1" in lines
            assert b"accept: application/json" in lines
            assert not any(line.startswith(b"content-length") for line in lines)
        nursery.cancel_scope.cancel()


@trio_test
async def test_post_sends_content_length_and_body() -> None:
    async with trio.open_nursery() as nursery:
        server = Server(nursery)
        async with transport(server) as t:
            body = b"method=users.getInfo&uids=1%2C2"
            response = await t.send(
                Request("POST", "http://localhost:9/fb.do", (("content-type", okru_proto.adapter.FORM_CONTENT_TYPE),), body)
            )
            assert response.body.endswith(b"\n" + body)
            assert b"content-length: %d" % len(body) in response.body
            assert b"host: localhost:9" in response.body
            # An empty POST still says how long its body is.
            response = await t.send(Request("POST", "http://localhost:9/x"))
            assert b"content-length: 0" in response.body
        nursery.cancel_scope.cancel()


@trio_test
async def test_user_agent_from_request_wins_and_fragment_is_not_sent() -> None:
    async with trio.open_nursery() as nursery:
        server = Server(nursery)
        async with transport(server) as t:
            response = await t.send(Request("GET", "http://127.0.0.1/a?b=1#frag", (("user-agent", "me"),)))
            lines = response.body.split(b"\n")
            assert lines[0] == b"GET /a?b=1"
            assert b"user-agent: me" in lines
            assert b"user-agent: okru/0.1" not in lines
            assert b"host: 127.0.0.1" in lines
            response = await t.send(Request("GET", "http://127.0.0.1?x=/y"))
            assert response.body.split(b"\n")[0] == b"GET /?x=/y"
            response = await t.send(Request("GET", "http://127.0.0.1"))
            assert response.body.split(b"\n")[0] == b"GET /"
        nursery.cancel_scope.cancel()


@trio_test
async def test_response_headers_duplicates_and_head() -> None:
    async def handler(request: h11.Request, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        return 201, [(b"Set-Cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"X-Latin", b"caf\xe9")], b"{}"

    async with trio.open_nursery() as nursery:
        server = Server(nursery, handler)
        async with transport(server) as t:
            response = await t.send(Request("GET", URL))
            assert response.status == 201
            assert response.header_values("set-cookie") == ["a=1", "b=2"]
            assert response.header("x-latin") == "café"
            assert response.body == b"{}"
            assert type(response.body) is bytes
        nursery.cancel_scope.cancel()


# -- keep-alive and the pool ---------------------------------------------------------------------


@trio_test
async def test_keep_alive_reuses_one_connection() -> None:
    async with trio.open_nursery() as nursery:
        server = Server(nursery)
        async with transport(server) as t:
            for _ in range(5):
                assert (await t.send(Request("GET", URL))).status == 200
            assert server.opened == 1
            assert pool_size(t) == 1
        nursery.cancel_scope.cancel()


@trio_test
async def test_origins_have_separate_pools_and_spellings_share_one() -> None:
    async with trio.open_nursery() as nursery:
        server = Server(nursery)
        async with transport(server) as t:
            await t.send(Request("GET", "http://127.0.0.1:8080/a"))
            await t.send(Request("GET", "http://127.0.0.1:8081/a"))
            await t.send(Request("GET", "http://localhost:8080/a"))
            assert server.opened == 3
            await t.send(Request("GET", "http://LOCALHOST:8080/b"))  # same origin, other spelling
            await t.send(Request("GET", "http://127.0.0.1:8080/c"))
            assert server.opened == 3
        nursery.cancel_scope.cancel()


@trio_test
async def test_server_connection_close_is_not_pooled() -> None:
    async def handler(request: h11.Request, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        return 200, [(b"connection", b"close")], b"bye"

    async with trio.open_nursery() as nursery:
        server = Server(nursery, handler)
        async with transport(server) as t:
            assert (await t.send(Request("GET", URL))).body == b"bye"
            assert pool_size(t) == 0
            assert (await t.send(Request("GET", URL))).body == b"bye"
            assert server.opened == 2
        nursery.cancel_scope.cancel()


@trio_test
async def test_200_concurrent_calls_share_a_pool_of_4() -> None:
    async def handler(request: h11.Request, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        await trio.sleep(0.01)  # keep calls overlapping so the pool really is contended
        return 200, [], request.target

    results: dict[int, bytes] = {}
    async with trio.open_nursery() as nursery:
        server = Server(nursery, handler)
        async with transport(server, max_connections_per_origin=4) as t:

            async def call(i: int) -> None:
                results[i] = (await t.send(Request("GET", f"http://127.0.0.1:1/fb.do?i={i}"))).body

            async with trio.open_nursery() as calls:
                for i in range(200):
                    calls.start_soon(call, i)
            assert server.opened == 4
            assert server.max_open == 4
            assert server.requests == 200
            assert pool_size(t) == 4
        nursery.cancel_scope.cancel()
    assert results == {i: b"/fb.do?i=%d" % i for i in range(200)}


@trio_test
async def test_pool_wait_is_fifo() -> None:
    gate = trio.Event()
    order: list[int] = []

    async def handler(request: h11.Request, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        await gate.wait()
        return 200, [], b""

    async with trio.open_nursery() as nursery:
        server = Server(nursery, handler)
        async with transport(server, max_connections_per_origin=1) as t:

            async def call(i: int) -> None:
                await t.send(Request("GET", f"http://127.0.0.1:1/?i={i}"))
                order.append(i)

            async with trio.open_nursery() as calls:
                for i in range(6):
                    calls.start_soon(call, i)
                    await trio.testing.wait_all_tasks_blocked()
                gate.set()
        nursery.cancel_scope.cancel()
    assert order == [0, 1, 2, 3, 4, 5]


@trio_test
async def test_cancelled_and_timed_out_pool_waiters_leave_the_queue_and_the_slot_count_intact() -> None:
    gate = trio.Event()
    order: list[int] = []
    outcomes: list[str] = []

    async def handler(request: h11.Request, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        if request.target == b"/?i=0":
            await gate.wait()
        return 200, [], b""

    async with trio.open_nursery() as nursery:
        server = Server(nursery, handler)
        async with transport(server, max_connections_per_origin=1, read_timeout=None, timeout=10) as t:
            origin_key = (False, "127.0.0.1", 1)

            async def call(i: int, task_status: trio.TaskStatus[trio.CancelScope] = trio.TASK_STATUS_IGNORED) -> None:
                with trio.CancelScope() as scope:
                    task_status.started(scope)
                    try:
                        await t.send(Request("GET", f"http://127.0.0.1:1/?i={i}"))
                    except TransportTimeout as exc:
                        outcomes.append(f"{i}: {exc}")
                        return
                    order.append(i)

            async with trio.open_nursery() as calls:
                await calls.start(call, 0)
                await trio.testing.wait_all_tasks_blocked()
                scopes = [await calls.start(call, i) for i in (1, 2, 3)]
                await trio.testing.wait_all_tasks_blocked()
                assert len(t._pools[origin_key].waiters) == 3
                scopes[1].cancel()  # the middle waiter leaves the queue
                await trio.testing.wait_all_tasks_blocked()
                assert len(t._pools[origin_key].waiters) == 2
                await trio.sleep(11)  # every call started at 0: 0 times out talking, 1 and 3 waiting
                assert sorted(outcomes) == [
                    "0: total timeout (10s) expired talking to 127.0.0.1:1; " + MAY_HAVE_RUN,
                    "1: total timeout (10s) expired waiting for a free connection to 127.0.0.1:1",
                    "3: total timeout (10s) expired waiting for a free connection to 127.0.0.1:1",
                ]
                gate.set()
            origin = t._pools[origin_key]
            assert order == []
            assert origin.free == 1
            assert not origin.waiters
            # The slot count is intact: the next call gets the one connection at once.
            await t.send(Request("GET", "http://127.0.0.1:1/?i=4"))
        nursery.cancel_scope.cancel()


# -- never a second send -------------------------------------------------------------------------
# A stream from stream_factory has no socket to probe, so a pooled connection is used as it is;
# the socket tests (test_transport_resend.py) cover the probe that drops a dead pooled socket.


@trio_test
async def test_pooled_connection_closed_by_server_is_an_error_not_a_resend() -> None:
    async with trio.open_nursery() as nursery:
        server = Server(nursery, close_after=1)
        async with transport(server) as t:
            await t.send(Request("GET", URL))
            await trio.testing.wait_all_tasks_blocked()  # the server has closed its end by now
            with pytest.raises(TransportError, match="may have reached the server") as info:
                await t.send(Request("POST", "http://127.0.0.1:8080/fb.do", (), b"x=1"))
            assert TOKEN not in str(info.value)
            assert info.value.__cause__ is not None
            assert server.opened == 1  # no second connection, no second send
            assert server.requests == 1
        nursery.cancel_scope.cancel()


@trio_test
async def test_fresh_connection_eof_is_not_retried() -> None:
    async def slam(stream: trio.abc.Stream, number: int) -> None:
        await stream.receive_some(65536)

    async with trio.open_nursery() as nursery:
        server = Server(nursery, raw=slam)
        async with transport(server) as t:
            with pytest.raises(TransportError, match="without replying; " + MAY_HAVE_RUN) as info:
                await t.send(Request("GET", URL))
            assert server.opened == 1
            assert "127.0.0.1:8080" in str(info.value)
            assert TOKEN not in str(info.value)
            assert info.value.__cause__ is not None
        nursery.cancel_scope.cancel()


@trio_test
async def test_reused_connection_dropped_after_the_request_is_not_resent() -> None:
    seen: list[bytes] = []

    async def first_ok_then_slam(stream: trio.abc.Stream, number: int) -> None:
        seen.append(await stream.receive_some(65536))
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        seen.append(await stream.receive_some(65536))  # the POST: read it, then close unanswered

    async with trio.open_nursery() as nursery:
        server = Server(nursery, raw=first_ok_then_slam)
        async with transport(server) as t:
            assert (await t.send(Request("GET", URL))).body == b"ok"
            with pytest.raises(TransportError, match="closed the connection without replying") as info:
                await t.send(Request("POST", "http://127.0.0.1:8080/fb.do", (), b"text=hello"))
            assert MAY_HAVE_RUN in str(info.value)
            assert server.opened == 1  # okru dialled nothing to send it again
            assert len(seen) == 2 and seen[1].startswith(b"POST ")
        nursery.cancel_scope.cancel()


@trio_test
async def test_reused_connection_closed_after_partial_reply_is_not_retried() -> None:
    async def partial_second(stream: trio.abc.Stream, number: int) -> None:
        await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Len")

    async with trio.open_nursery() as nursery:
        server = Server(nursery, raw=partial_second)
        async with transport(server) as t:
            await t.send(Request("GET", URL))
            with pytest.raises(TransportError, match="before the response was complete"):
                await t.send(Request("GET", URL))
            assert server.opened == 1
        nursery.cancel_scope.cancel()


# -- broken servers ------------------------------------------------------------------------------


@trio_test
async def test_garbage_is_a_protocol_error() -> None:
    async def garbage(stream: trio.abc.Stream, number: int) -> None:
        await stream.receive_some(65536)
        await stream.send_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        server = Server(nursery, raw=garbage)
        async with transport(server) as t:
            with pytest.raises(ProtocolError, match=r"127\.0\.0\.1:8080") as info:
                await t.send(Request("GET", URL))
            assert isinstance(info.value.__cause__, h11.RemoteProtocolError)
            assert TOKEN not in str(info.value)
            assert pool_size(t) == 0
            await trio.testing.wait_all_tasks_blocked()
            assert server.open_now == 1  # our side is closed; the server task sleeps on
        nursery.cancel_scope.cancel()


@trio_test
async def test_truncated_body_is_a_transport_error() -> None:
    async def truncated(stream: trio.abc.Stream, number: int) -> None:
        await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)

    async with trio.open_nursery() as nursery:
        server = Server(nursery, raw=truncated)
        async with transport(server) as t:
            with pytest.raises(TransportError, match="truncated") as info:
                await t.send(Request("GET", URL))
            assert not isinstance(info.value, ProtocolError)
            assert isinstance(info.value.__cause__, h11.RemoteProtocolError)
            assert pool_size(t) == 0
        nursery.cancel_scope.cancel()


class ResettingStream(trio.abc.Stream):
    """Delivers ``head`` then fails like a TCP reset (trio's BrokenResourceError from an OSError)."""

    def __init__(self, head: bytes) -> None:
        self.head = head
        self.sent = b""
        self.closed = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()
        self.sent += bytes(data)

    async def wait_send_all_might_not_block(self) -> None:  # pragma: no cover
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        if self.head:
            head, self.head = self.head, b""
            return head
        raise trio.BrokenResourceError("reset") from ConnectionResetError(104, "Connection reset by peer")

    async def aclose(self) -> None:
        self.closed = True
        await trio.lowlevel.checkpoint()


@trio_test
async def test_reset_mid_body_is_a_transport_error() -> None:
    streams: list[ResettingStream] = []

    async def factory(host: str, port: int, use_tls: bool) -> trio.abc.Stream:
        streams.append(ResettingStream(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"uid\""))
        return streams[-1]

    async with H11Transport(stream_factory=factory) as t:
        with pytest.raises(TransportError, match=r"connection to 127\.0\.0\.1:8080 failed") as info:
            await t.send(Request("GET", URL))
        assert isinstance(info.value.__cause__, trio.BrokenResourceError)
        assert TOKEN not in str(info.value)
        assert streams[0].closed
        assert len(streams) == 1


@trio_test
async def test_body_over_the_cap_is_a_protocol_error() -> None:
    async def big(request: h11.Request, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        return 200, [], b"x" * 1001

    async with trio.open_nursery() as nursery:
        server = Server(nursery, big)
        async with transport(server, max_response_bytes=1000) as t:
            with pytest.raises(ProtocolError, match="max_response_bytes"):
                await t.send(Request("GET", URL))
            assert pool_size(t) == 0
        async with transport(server, max_response_bytes=1001) as t:
            assert len((await t.send(Request("GET", URL))).body) == 1001
        nursery.cancel_scope.cancel()


@trio_test
async def test_informational_response_is_skipped() -> None:
    async def with_100(stream: trio.abc.Stream, number: int) -> None:
        await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        server = Server(nursery, raw=with_100)
        async with transport(server) as t:
            response = await t.send(Request("GET", URL))
            assert (response.status, response.body) == (200, b"ok")
        nursery.cancel_scope.cancel()


@trio_test
async def test_close_delimited_body_is_read_to_eof() -> None:
    async def http10(stream: trio.abc.Stream, number: int) -> None:
        await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.0 200 OK\r\n\r\nall of it")

    async with trio.open_nursery() as nursery:
        server = Server(nursery, raw=http10)
        async with transport(server) as t:
            assert (await t.send(Request("GET", URL))).body == b"all of it"
            assert pool_size(t) == 0
        nursery.cancel_scope.cancel()


# -- timeouts (MockClock: virtual time) ----------------------------------------------------------


async def stall(stream: trio.abc.Stream, number: int) -> None:
    await stream.receive_some(65536)
    await trio.sleep_forever()


@trio_test
async def test_read_timeout() -> None:
    async with trio.open_nursery() as nursery:
        server = Server(nursery, raw=stall)
        async with transport(server, read_timeout=5, timeout=60) as t:
            start = trio.current_time()
            with pytest.raises(TransportTimeout, match=r"read timeout \(5s\).*127\.0\.0\.1:8080") as info:
                await t.send(Request("GET", URL))
            assert trio.current_time() - start == pytest.approx(5)
            assert isinstance(info.value.__cause__, trio.TooSlowError)
            assert TOKEN not in str(info.value)
            assert pool_size(t) == 0
            await trio.testing.wait_all_tasks_blocked()
            assert not t._conns
        nursery.cancel_scope.cancel()


@trio_test
async def test_read_timeout_is_per_wait_not_per_body() -> None:
    async def dribble(stream: trio.abc.Stream, number: int) -> None:
        await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        for byte in b"hello":
            await trio.sleep(3)
            await stream.send_all(bytes([byte]))
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        server = Server(nursery, raw=dribble)
        async with transport(server, read_timeout=5, timeout=60) as t:
            assert (await t.send(Request("GET", URL))).body == b"hello"
        async with transport(server, read_timeout=5, timeout=10) as t:
            with pytest.raises(TransportTimeout, match=r"total timeout \(10s\)"):
                await t.send(Request("GET", URL))
        nursery.cancel_scope.cancel()


@trio_test
async def test_connect_timeout() -> None:
    async def never(host: str, port: int, use_tls: bool) -> trio.abc.Stream:
        await trio.sleep_forever()
        raise AssertionError  # pragma: no cover

    async with H11Transport(stream_factory=never, connect_timeout=3) as t:
        start = trio.current_time()
        with pytest.raises(TransportTimeout, match=r"connect timeout \(3s\).*127\.0\.0\.1:8080"):
            await t.send(Request("GET", URL))
        assert trio.current_time() - start == pytest.approx(3)


@trio_test
async def test_total_timeout_while_waiting_for_the_pool() -> None:
    async with trio.open_nursery() as nursery:
        server = Server(nursery, raw=stall)
        async with transport(server, max_connections_per_origin=1, read_timeout=None, timeout=4) as t:
            outcomes: list[str] = []

            async def call() -> None:
                try:
                    await t.send(Request("GET", URL))
                except TransportTimeout as exc:
                    outcomes.append(str(exc))

            async with trio.open_nursery() as calls:
                calls.start_soon(call)
                await trio.testing.wait_all_tasks_blocked()
                calls.start_soon(call)
            assert sorted(outcomes) == [
                "total timeout (4s) expired talking to 127.0.0.1:8080; " + MAY_HAVE_RUN,
                "total timeout (4s) expired waiting for a free connection to 127.0.0.1:8080",
            ]
            assert server.opened == 1
        nursery.cancel_scope.cancel()


# -- cancellation --------------------------------------------------------------------------------


@trio_test
async def test_cancel_mid_request_discards_the_connection() -> None:
    async with trio.open_nursery() as nursery:
        server = Server(nursery, raw=stall)
        async with transport(server) as t:
            with trio.move_on_after(1) as scope:
                await t.send(Request("GET", URL))
            assert scope.cancelled_caught
            assert pool_size(t) == 0
            assert not t._conns
            # The pool slot came back: with one connection allowed, a new call still proceeds.
        nursery.cancel_scope.cancel()


@trio_test
async def test_cancel_mid_body_then_next_call_uses_a_fresh_connection() -> None:
    gate = trio.Event()

    async def handler(request: h11.Request, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        if request.target == b"/slow":
            await gate.wait()
        return 200, [], b"ok"

    async with trio.open_nursery() as nursery:
        server = Server(nursery, handler)
        async with transport(server, max_connections_per_origin=1) as t:
            await t.send(Request("GET", "http://127.0.0.1/fast"))
            with trio.move_on_after(1):
                await t.send(Request("GET", "http://127.0.0.1/slow"))
            gate.set()
            # Were the half-used connection pooled, this call would read /slow's reply.
            response = await t.send(Request("GET", "http://127.0.0.1/fast"))
            assert response.body == b"ok"
            assert server.opened == 2
            assert server.requests == 3
        nursery.cancel_scope.cancel()


@trio_test
async def test_cancel_while_connecting_and_while_waiting_for_the_pool() -> None:
    async with trio.open_nursery() as nursery:
        server = Server(nursery, raw=stall)
        async with transport(server, max_connections_per_origin=1) as t:
            async with trio.open_nursery() as calls:
                calls.start_soon(t.send, Request("GET", URL))
                calls.start_soon(t.send, Request("GET", URL))
                await trio.testing.wait_all_tasks_blocked()
                calls.cancel_scope.cancel()
            assert not t._conns
            origin = t._pools[(False, "127.0.0.1", 8080)]
            assert origin.free == 1
            assert not origin.waiters
        nursery.cancel_scope.cancel()


# -- aclose --------------------------------------------------------------------------------------


@trio_test
async def test_aclose_closes_idle_and_busy_connections() -> None:
    async with trio.open_nursery() as nursery:
        server = Server(nursery)
        busy = Server(nursery, raw=stall)
        t = transport(server)
        await t.send(Request("GET", "http://127.0.0.1/"))
        t._stream_factory = busy.factory
        errors: list[BaseException] = []

        async def busy_call() -> None:
            try:
                await t.send(Request("GET", "http://localhost/"))
            except TransportError as exc:
                errors.append(exc)

        nursery.start_soon(busy_call)
        await trio.testing.wait_all_tasks_blocked()
        await t.aclose()
        await trio.testing.wait_all_tasks_blocked()
        assert server.closed_by_client == 1
        assert isinstance(errors[0], TransportError) and "closed" in str(errors[0])
        assert not t._conns
        with pytest.raises(UsageError, match="closed"):
            await t.send(Request("GET", URL))
        await t.aclose()  # idempotent
        nursery.cancel_scope.cancel()


# -- usage errors --------------------------------------------------------------------------------


@trio_test
async def test_plain_http_is_refused_for_non_loopback_before_connecting() -> None:
    async def factory(host: str, port: int, use_tls: bool) -> trio.abc.Stream:
        raise AssertionError("must not connect")

    async with H11Transport(stream_factory=factory) as t:
        with pytest.raises(UsageError, match="plain http") as info:
            await t.send(Request("GET", f"http://api.ok.ru/fb.do?access_token={TOKEN}"))
        assert TOKEN not in str(info.value)
        with pytest.raises(UsageError, match="credentials"):
            await t.send(Request("GET", "https://user:pw@api.ok.ru/fb.do"))


@trio_test
async def test_https_is_passed_to_the_factory_as_tls() -> None:
    seen: list[tuple[str, int, bool]] = []
    async with trio.open_nursery() as nursery:
        server = Server(nursery)

        async def factory(host: str, port: int, use_tls: bool) -> trio.abc.Stream:
            seen.append((host, port, use_tls))
            return await server.factory(host, port, use_tls)

        async with H11Transport(stream_factory=factory) as t:
            response = await t.send(Request("GET", "https://api.ok.ru/fb.do"))
            assert b"host: api.ok.ru\n" in response.body
            await t.send(Request("GET", "https://[::1]:8443/fb.do"))
            await t.send(Request("GET", "http://[::1]:8080/fb.do"))
        nursery.cancel_scope.cancel()
    assert seen == [("api.ok.ru", 443, True), ("::1", 8443, True), ("::1", 8080, False)]


@trio_test
async def test_transport_owned_headers_are_refused() -> None:
    async with H11Transport() as t:
        for name in ("host", "content-length", "transfer-encoding", "connection"):
            with pytest.raises(UsageError, match=name):
                await t.send(Request("GET", URL, ((name, "1"),)))
        with pytest.raises(UsageError, match="ASCII"):
            await t.send(Request("GET", "http://127.0.0.1/é"))
        with pytest.raises(UsageError, match="framed"):
            await t.send(Request("GET", "http://127.0.0.1/a b"))


def test_constructor_validates() -> None:
    with pytest.raises(UsageError):
        H11Transport(max_connections_per_origin=0)
    with pytest.raises(UsageError):
        H11Transport(timeout=0)
    with pytest.raises(UsageError):
        H11Transport(read_timeout=-1)
    with pytest.raises(UsageError):
        H11Transport(max_response_bytes=-1)
    H11Transport(connect_timeout=None, read_timeout=None, timeout=None)


@trio_test
async def test_connection_refused_is_a_transport_error() -> None:
    async def refused(host: str, port: int, use_tls: bool) -> trio.abc.Stream:
        await trio.lowlevel.checkpoint()
        raise ConnectionRefusedError(111, "Connection refused")

    async with H11Transport(stream_factory=refused) as t:
        with pytest.raises(TransportError, match=r"could not connect to 127\.0\.0\.1:8080") as info:
            await t.send(Request("GET", URL))
        assert isinstance(info.value.__cause__, ConnectionRefusedError)
        assert not isinstance(info.value, TransportTimeout)


# -- the OK.ru emulator on the other side of the memory streams ----------------------------------


def emulator_handler(fake: FakeOK) -> Handler:
    async def handler(request: h11.Request, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        host = next(v for n, v in request.headers if n == b"host").decode()
        ok_request = Request(
            request.method.decode(),
            f"http://{host}{request.target.decode()}",
            tuple((n.decode(), v.decode("latin-1")) for n, v in request.headers),
            body,
        )
        reply = fake.handle(ok_request)
        return reply.status, [(n.encode(), v.encode("latin-1")) for n, v in reply.headers], reply.body

    return handler


@pytest.mark.parametrize("http_method", ["POST", "GET"])
@trio_test
async def test_signed_calls_against_the_emulator(http_method: str) -> None:
    fake = FakeOK()
    session = fake.issue_token()
    app = next(iter(fake.apps.values()))
    endpoints = okru_proto.Endpoints(api="http://127.0.0.1:8080")

    async with trio.open_nursery() as nursery:
        server = Server(nursery, emulator_handler(fake))
        async with transport(server, max_connections_per_origin=4) as t:
            results: list[object] = []

            async def call() -> None:
                request = okru_proto.adapter.prepare_call(
                    "users.getCurrentUser", {"fields": "uid,name"}, app_key=app.app_key,
                    endpoints=endpoints, secret=session["session_secret_key"],
                    access_token=session["access_token"], http_method=http_method,
                )
                results.append(okru_proto.adapter.parse_call_response(await t.send(request), "users.getCurrentUser"))

            async with trio.open_nursery() as calls:
                for _ in range(200):
                    calls.start_soon(call)
            assert server.opened == 4
            assert server.max_open == 4
        nursery.cancel_scope.cancel()
    assert len(results) == 200
    assert all(isinstance(r, dict) and r.get("uid") == "571000000001" for r in results)


@trio_test
async def test_emulator_error_reply_passes_through_untouched() -> None:
    fake = FakeOK()
    app = next(iter(fake.apps.values()))
    endpoints = okru_proto.Endpoints(api="http://127.0.0.1:8080")
    async with trio.open_nursery() as nursery:
        server = Server(nursery, emulator_handler(fake))
        async with transport(server) as t:
            request = okru_proto.adapter.prepare_call(
                "users.getCurrentUser", {}, app_key=app.app_key, endpoints=endpoints,
                secret="wrong-secret", access_token="no-such-token",
            )
            response = await t.send(request)
            # The transport returns what came; only the core decides that this is an error.
            assert response.status == 200
            with pytest.raises(okru_proto.APIError):
                okru_proto.adapter.parse_call_response(response, "users.getCurrentUser")
        nursery.cancel_scope.cancel()


def test_trusted_response_equals_the_validating_constructor() -> None:
    from okru_trio import _exchange

    headers = (("content-type", "application/json"), ("set-cookie", "a=1"), ("x-1", "caf\xe9"))
    fast = _exchange._response(200, headers, b"{}")
    assert fast == Response(200, headers, b"{}")
    assert type(fast) is Response
    assert repr(fast) == repr(Response(200, headers, b"{}"))


# -- the deadline watchdog -----------------------------------------------------------------------


def stall_after_first(number_ok: int = 1) -> Callable[[trio.abc.Stream, int], Awaitable[None]]:
    async def serve(stream: trio.abc.Stream, number: int) -> None:
        conn = h11.Connection(h11.SERVER)
        served = 0
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                if not data:
                    return
                conn.receive_data(data)
            elif isinstance(ev, h11.EndOfMessage):
                if served >= number_ok:
                    await trio.sleep_forever()
                out = conn.send(h11.Response(status_code=200, headers=[(b"content-length", b"2")]))
                await stream.send_all(out + conn.send(h11.Data(data=b"ok")) + conn.send(h11.EndOfMessage()))
                conn.start_next_cycle()
                served += 1

    return serve


@trio_test
async def test_watchdog_wakes_for_a_call_after_an_idle_period() -> None:
    async with trio.open_nursery() as nursery:
        server = Server(nursery, raw=stall_after_first())
        async with transport(server, read_timeout=5, timeout=60) as t:
            assert (await t.send(Request("GET", URL))).body == b"ok"
            await trio.sleep(100)  # the watchdog has looked and gone to sleep with nothing to watch
            assert t._watch.wake == float("inf") and t._watch.sleep_scope is not None
            start = trio.current_time()
            with pytest.raises(TransportTimeout, match="read timeout"):
                await t.send(Request("GET", URL))
            assert trio.current_time() - start == pytest.approx(5)
            assert server.opened == 1
        assert t._watch.task_scope is None  # aclose stopped it
        nursery.cancel_scope.cancel()


@trio_test
async def test_each_call_gets_its_own_deadline() -> None:
    async with trio.open_nursery() as nursery:
        server = Server(nursery, raw=stall)
        async with transport(server, read_timeout=5, timeout=60) as t:
            ends: dict[int, float] = {}

            async def call(i: int) -> None:
                with pytest.raises(TransportTimeout):
                    await t.send(Request("GET", URL))
                ends[i] = trio.current_time()

            start = trio.current_time()
            async with trio.open_nursery() as calls:
                for i in range(3):
                    calls.start_soon(call, i)
                    await trio.sleep(1)
            assert [ends[i] - start for i in range(3)] == pytest.approx([5, 6, 7])
        nursery.cancel_scope.cancel()


@trio_test
async def test_no_timeouts_means_no_watchdog() -> None:
    async with trio.open_nursery() as nursery:
        server = Server(nursery)
        async with transport(server, connect_timeout=None, read_timeout=None, timeout=None) as t:
            assert (await t.send(Request("GET", URL))).status == 200
            assert t._watch.task_scope is None and t._watch.sleep_scope is None
        nursery.cancel_scope.cancel()


def test_transport_reused_in_a_second_trio_run_still_times_out() -> None:
    t = H11Transport(stream_factory=None, read_timeout=5)

    async def one_run(expect_ok: bool) -> None:
        async with trio.open_nursery() as nursery:
            server = Server(nursery, raw=stall_after_first(1 if expect_ok else 0))
            t._stream_factory = server.factory
            if expect_ok:
                assert (await t.send(Request("GET", URL))).body == b"ok"
                # Leave the pool empty: streams of one run are not for another.
                for origin in t._pools.values():
                    origin.idle.clear()
                t._conns.clear()
            else:
                with pytest.raises(TransportTimeout, match="read timeout"):
                    await t.send(Request("GET", URL))
            nursery.cancel_scope.cancel()

    clock = trio.testing.MockClock(autojump_threshold=0)
    trio.run(one_run, True, clock=clock)
    assert t._watch.task_scope is None  # the first run's watchdog ended with its run
    trio.run(one_run, False, clock=trio.testing.MockClock(autojump_threshold=0))


@trio_test
async def test_head_and_chunked_replies_keep_the_connection() -> None:
    async def replies(stream: trio.abc.Stream, number: int) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                if not data:
                    return
                conn.receive_data(data)
            elif isinstance(ev, h11.Request):
                request = ev
            elif isinstance(ev, h11.EndOfMessage):
                if request.method == b"HEAD":
                    out = conn.send(h11.Response(status_code=200, headers=[(b"content-length", b"1234")]))
                else:  # no Content-Length: h11 frames it chunked
                    out = conn.send(h11.Response(status_code=200, headers=[(b"transfer-encoding", b"chunked")]))
                    out += conn.send(h11.Data(data=b'{"a":')) + conn.send(h11.Data(data=b"1}"))
                await stream.send_all(out + conn.send(h11.EndOfMessage()))
                conn.start_next_cycle()

    async with trio.open_nursery() as nursery:
        server = Server(nursery, raw=replies)
        async with transport(server) as t:
            head = await t.send(Request("HEAD", URL))
            assert (head.status, head.body, head.header("content-length")) == (200, b"", "1234")
            chunked = await t.send(Request("GET", URL))
            assert chunked.body == b'{"a":1}'
            assert (await t.send(Request("GET", URL))).body == b'{"a":1}'
            assert server.opened == 1
        nursery.cancel_scope.cancel()


@trio_test
async def test_body_cap_counts_every_chunk_and_ignores_the_declared_length() -> None:
    async def chunks(stream: trio.abc.Stream, number: int) -> None:
        await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(20):
            await stream.send_all(b"64\r\n" + b"x" * 100 + b"\r\n")
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        server = Server(nursery, raw=chunks)
        async with transport(server, max_response_bytes=1500) as t:
            with pytest.raises(ProtocolError, match=r"max_response_bytes=1500 "):
                await t.send(Request("GET", URL))
            assert not t._conns
        nursery.cancel_scope.cancel()


@trio_test
async def test_bytes_after_the_response_keep_the_connection_out_of_the_pool() -> None:
    async def extra(stream: trio.abc.Stream, number: int) -> None:
        while await stream.receive_some(65536):
            await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n")

    async with trio.open_nursery() as nursery:
        server = Server(nursery, raw=extra)
        async with transport(server) as t:
            assert (await t.send(Request("GET", URL))).body == b"ok"
            assert pool_size(t) == 0
            assert (await t.send(Request("GET", URL))).body == b"ok"
            assert server.opened == 2
        nursery.cancel_scope.cancel()
