"""okru_trio never sends one request twice on its own, over real loopback sockets.

A pooled connection the server closed while idle is found readable before anything is written
and dropped (the call goes out once, on a new connection). A connection that dies after the
request was written is the caller's TransportError, even for a POST the server ran: only an
opted-in RetryPolicy may repeat it. Every server is raw h11 on 127.0.0.1 written here.
"""

from __future__ import annotations

import functools
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import h11
import pytest
import trio
import trio.testing
import trustme

from okru_proto import TransportError
from okru_proto.adapter import Request
from okru_trio import ServerSession
from okru_trio._conn import readable_probe
from okru_trio._transport import H11Transport

pytestmark = pytest.mark.network

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"uid\":\"123\"}"


class Counter:
    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[tuple[bytes, bytes, bytes]] = []  # (method, target, body)
        self.dropped = trio.Event()


async def read_one(conn: h11.Connection, stream: trio.abc.Stream, counter: Counter) -> bool:
    """Read one whole request (head and body) and count it; False on EOF."""
    method = target = b""
    body = b""
    while True:
        ev = conn.next_event()
        if ev is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            if not data:
                return False
            conn.receive_data(data)
        elif isinstance(ev, h11.Request):
            method, target = ev.method, ev.target
        elif isinstance(ev, h11.Data):
            body += ev.data
        elif isinstance(ev, h11.EndOfMessage):
            counter.requests.append((method, target, body))
            return True
        else:  # pragma: no cover
            return False


async def serve(
    nursery: trio.Nursery,
    handler: Callable[[trio.abc.Stream, Counter, int], Awaitable[None]],
    tls: ssl.SSLContext | None = None,
) -> tuple[int, Counter]:
    counter = Counter()

    async def on_connection(stream: trio.SocketStream) -> None:
        counter.connections += 1
        number = counter.connections
        wrapped: trio.abc.Stream = stream
        try:
            if tls is not None:
                wrapped = trio.SSLStream(stream, tls, server_side=True)
                await wrapped.do_handshake()
            await handler(wrapped, counter, number)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(wrapped)

    listeners = await nursery.start(functools.partial(trio.serve_tcp, on_connection, 0, host="127.0.0.1"))
    return listeners[0].socket.getsockname()[1], counter


def run(fn: Callable[[], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        with trio.fail_after(20):  # a guard against a hung test, not a timing assumption
            return await fn()

    return trio.run(main)


async def answer_then_run_and_drop(stream: trio.abc.Stream, counter: Counter, number: int) -> None:
    """Answer the first request with keep-alive; read the second whole, count it, drop the line."""
    conn = h11.Connection(h11.SERVER)
    if not await read_one(conn, stream, counter):
        return
    await stream.send_all(OK)
    conn = h11.Connection(h11.SERVER)  # the raw reply above bypassed h11's state: start afresh
    if await read_one(conn, stream, counter):
        counter.dropped.set()  # "ran" the call, then the connection dies before any reply


def test_a_post_the_server_ran_is_never_sent_twice() -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port, counter = await serve(nursery, answer_then_run_and_drop)
            async with H11Transport() as t:
                base = f"http://127.0.0.1:{port}/fb.do"
                assert (await t.send(Request("GET", base + "?method=users.getCurrentUser"))).status == 200
                with pytest.raises(TransportError) as info:
                    await t.send(Request("POST", base, (("content-type", "application/x-www-form-urlencoded"),),
                                         b"method=mediatopic.post&access_token=SECRET"))
                message = str(info.value)
                assert "may have reached the server" in message
                assert f"127.0.0.1:{port}" in message and "SECRET" not in message
                assert info.value.__cause__ is not None
            await counter.dropped.wait()
            posts = [r for r in counter.requests if r[0] == b"POST"]
            assert len(posts) == 1  # the server ran it exactly once
            assert counter.connections == 1  # okru dialled nothing to send it again
            nursery.cancel_scope.cancel()

    run(main)


def test_a_session_post_with_retries_off_runs_once_and_raises() -> None:
    """The whole stack: ServerSession's default (no RetryPolicy) surfaces the failure."""

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port, counter = await serve(nursery, answer_then_run_and_drop)
            from okru_proto import Endpoints

            endpoints = Endpoints(api=f"http://127.0.0.1:{port}")
            async with ServerSession("512000000000", "CBAFJIICABABABABA", "0123456789ABCDEF0123456789ABCDEF",
                                     "-s-token-value", endpoints=endpoints) as session:
                await session.call("users.getCurrentUser")
                with pytest.raises(TransportError, match="may have reached the server"):
                    await session.call("mediatopic.post", {"type": "GROUP_THEME", "attachment": "{}"})
            await counter.dropped.wait()
            assert sum(1 for r in counter.requests if b"mediatopic.post" in r[1] + r[2]) == 1
            assert counter.connections == 1
            nursery.cancel_scope.cancel()

    run(main)


async def keep_alive_until_told(stream: trio.abc.Stream, counter: Counter, number: int) -> None:
    """Serve requests with keep-alive; after the first one on connection 1, close it while idle."""
    conn = h11.Connection(h11.SERVER)
    while await read_one(conn, stream, counter):
        await stream.send_all(OK)
        conn = h11.Connection(h11.SERVER)
        if number == 1:
            return  # the keep-alive timer fires: FIN while the client holds the connection idle


async def wait_until_readable(t: H11Transport, count: int) -> None:
    # Event-driven: wait for the FIN to land on every pooled socket (no sleeps).
    conns = [c for origin in t._pools.values() for c in origin.idle]
    assert len(conns) == count
    for c in conns:
        await trio.lowlevel.wait_readable(c.stream.socket if isinstance(c.stream, trio.SocketStream)
                                          else c.stream.transport_stream.socket)  # type: ignore[attr-defined]


def test_a_pooled_connection_closed_while_idle_is_dropped_before_writing() -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port, counter = await serve(nursery, keep_alive_until_told)
            async with H11Transport() as t:
                base = f"http://127.0.0.1:{port}/fb.do"
                await t.send(Request("GET", base + "?i=1"))
                await wait_until_readable(t, 1)
                response = await t.send(Request("POST", base, (), b"method=mediatopic.post"))
                assert response.status == 200
                assert counter.connections == 2
                assert [r[0] for r in counter.requests] == [b"GET", b"POST"]  # the POST went out once
            nursery.cancel_scope.cancel()

    run(main)


def test_a_server_that_closes_just_after_the_check_gives_an_error_not_a_second_send() -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port, counter = await serve(nursery, keep_alive_until_told)
            async with H11Transport() as t:
                base = f"http://127.0.0.1:{port}/fb.do"
                await t.send(Request("GET", base))
                await wait_until_readable(t, 1)
                # The race: the check ran while the connection was alive, the FIN came right after.
                for origin in t._pools.values():
                    for conn in origin.idle:
                        conn.probe = lambda timeout: []
                with pytest.raises(TransportError, match="may have reached the server"):
                    await t.send(Request("POST", base, (), b"method=mediatopic.post"))
                assert counter.connections == 1  # nothing dialled to send it again
                assert [r[0] for r in counter.requests] == [b"GET"]
            nursery.cancel_scope.cancel()

    run(main)


def test_every_dead_pooled_connection_is_dropped_then_one_is_dialled() -> None:
    async def two_then_close(stream: trio.abc.Stream, counter: Counter, number: int) -> None:
        conn = h11.Connection(h11.SERVER)
        if await read_one(conn, stream, counter):
            await gate.wait()  # both calls in flight at once: two pooled connections
            await stream.send_all(OK)
            if number > 2:
                conn = h11.Connection(h11.SERVER)
                while await read_one(conn, stream, counter):
                    await stream.send_all(OK)
                    conn = h11.Connection(h11.SERVER)

    gate = trio.Event()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port, counter = await serve(nursery, two_then_close)
            async with H11Transport() as t:
                url = f"http://127.0.0.1:{port}/fb.do"
                async with trio.open_nursery() as calls:
                    calls.start_soon(t.send, Request("GET", url))
                    calls.start_soon(t.send, Request("GET", url))
                    while len(counter.requests) < 2:
                        await trio.testing.wait_all_tasks_blocked()
                    gate.set()
                await wait_until_readable(t, 2)
                assert (await t.send(Request("GET", url))).status == 200
                assert counter.connections == 3
                assert len(counter.requests) == 3
                assert len(t._conns) == 1  # the two dead ones are gone, the new one is pooled
            nursery.cancel_scope.cancel()

    run(main)


def test_tls_pooled_connection_closed_while_idle_is_dropped_before_writing() -> None:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port, counter = await serve(nursery, keep_alive_until_told, tls=server)
            async with H11Transport(ssl_context=client) as t:
                base = f"https://127.0.0.1:{port}/fb.do"
                await t.send(Request("GET", base))
                await wait_until_readable(t, 1)
                assert (await t.send(Request("POST", base, (), b"x=1"))).status == 200
                assert counter.connections == 2
                assert [r[0] for r in counter.requests] == [b"GET", b"POST"]
            nursery.cancel_scope.cancel()

    run(main)


def test_the_probe_sees_an_idle_socket_as_alive_and_a_closed_one_as_dead() -> None:
    a, b = socket.socketpair()
    try:
        probe = readable_probe(trio.SocketStream(trio.socket.from_stdlib_socket(a)))
        assert probe is not None
        assert not probe(0)
        b.close()
        assert probe(0)  # EOF is readable
    finally:
        a.close()
    c, d = socket.socketpair()
    try:
        probe = readable_probe(trio.SocketStream(trio.socket.from_stdlib_socket(c)))
        assert probe is not None
        d.sendall(b"HTTP/1.1 408 Request Timeout\r\n\r\n")  # unsolicited bytes: not reusable either
        assert probe(0)
    finally:
        c.close()
        d.close()
    assert readable_probe(trio.testing.memory_stream_pair()[0]) is None
