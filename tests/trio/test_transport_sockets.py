"""H11Transport over real loopback sockets: TCP keep-alive, FIN and RST from the server, refused
connections, and TLS with a trustme CA (trusted with the right context, refused by default).

Every server here is a few lines of h11 on 127.0.0.1 written in the test; nothing leaves the host.
"""

from __future__ import annotations

import functools
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import h11
import pytest
import trio
import trustme

from okru_proto import TransportError, TransportTimeout
from okru_proto.adapter import Request
from okru_trio._transport import H11Transport

pytestmark = pytest.mark.network

Serve = Callable[[trio.abc.Stream, "Stats"], Awaitable[None]]


class Stats:
    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.eofs = 0


async def read_request(conn: h11.Connection, stream: trio.abc.Stream, stats: Stats) -> h11.Request | None:
    request = None
    while True:
        ev = conn.next_event()
        if ev is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            if not data:
                stats.eofs += 1
                return None
            conn.receive_data(data)
        elif isinstance(ev, h11.Request):
            request = ev
        elif isinstance(ev, h11.EndOfMessage):
            stats.requests += 1
            return request
        elif isinstance(ev, h11.ConnectionClosed):  # pragma: no cover
            stats.eofs += 1
            return None


async def keep_alive(stream: trio.abc.Stream, stats: Stats, *, max_requests: int | None = None) -> None:
    conn = h11.Connection(h11.SERVER)
    served = 0
    while max_requests is None or served < max_requests:
        request = await read_request(conn, stream, stats)
        if request is None:
            return
        body = b'{"uid":"123","target":"%s"}' % request.target
        out = conn.send(h11.Response(status_code=200, headers=[(b"content-length", b"%d" % len(body))]))
        out += conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
        await stream.send_all(out)
        served += 1
        conn.start_next_cycle()


async def serve(nursery: trio.Nursery, handler: Serve, *, tls: ssl.SSLContext | None = None) -> tuple[int, Stats]:
    stats = Stats()

    async def on_connection(stream: trio.SocketStream) -> None:
        stats.connections += 1
        wrapped: trio.abc.Stream = stream
        try:
            if tls is not None:
                wrapped = trio.SSLStream(stream, tls, server_side=True)
                await wrapped.do_handshake()
            await handler(wrapped, stats)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client went away (or refused our certificate): not this server's problem
        finally:
            await trio.aclose_forcefully(wrapped)

    listeners = await nursery.start(functools.partial(trio.serve_tcp, on_connection, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    return port, stats


def run(fn: Callable[[], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        with trio.fail_after(20):  # a guard against a hung test, not a timing assumption
            return await fn()

    return trio.run(main)


def test_keep_alive_over_tcp() -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port, stats = await serve(nursery, keep_alive)
            async with H11Transport() as t:
                for i in range(5):
                    response = await t.send(Request("GET", f"http://127.0.0.1:{port}/fb.do?i={i}"))
                    assert response.status == 200
                    assert response.body == b'{"uid":"123","target":"/fb.do?i=%d"}' % i
                assert stats.connections == 1
            await trio.testing.wait_all_tasks_blocked()
            assert stats.eofs == 1  # aclose closed the socket
            nursery.cancel_scope.cancel()

    run(main)


def test_server_fin_on_idle_connection_is_retried_once() -> None:
    async def one_then_close(stream: trio.abc.Stream, stats: Stats) -> None:
        await keep_alive(stream, stats, max_requests=1)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port, stats = await serve(nursery, one_then_close)
            async with H11Transport() as t:
                await t.send(Request("GET", f"http://127.0.0.1:{port}/a"))
                await trio.testing.wait_all_tasks_blocked()
                response = await t.send(Request("POST", f"http://127.0.0.1:{port}/b", (), b"x=1"))
                assert response.status == 200
                assert stats.connections == 2
                assert stats.requests == 2
            nursery.cancel_scope.cancel()

    run(main)


def test_server_reset_mid_body_is_a_transport_error() -> None:
    async def reset(stream: trio.abc.Stream, stats: Stats) -> None:
        assert isinstance(stream, trio.SocketStream)
        conn = h11.Connection(h11.SERVER)
        await read_request(conn, stream, stats)
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"uid\":")
        await trio.sleep(0.05)  # let the head arrive first, so this really is mid-body
        # SO_LINGER 0: close() sends RST instead of FIN.
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        stream.socket.close()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port, _ = await serve(nursery, reset)
            async with H11Transport() as t:
                with pytest.raises(TransportError) as info:
                    await t.send(Request("GET", f"http://127.0.0.1:{port}/fb.do?access_token=SECRET"))
                assert f"127.0.0.1:{port}" in str(info.value)
                assert "SECRET" not in str(info.value)
                assert info.value.__cause__ is not None
                assert not t._conns
            nursery.cancel_scope.cancel()

    run(main)


def test_stalled_server_read_timeout_over_tcp() -> None:
    async def stall(stream: trio.abc.Stream, stats: Stats) -> None:
        await read_request(h11.Connection(h11.SERVER), stream, stats)
        await trio.sleep_forever()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port, _ = await serve(nursery, stall)
            async with H11Transport(read_timeout=0.2) as t:
                with pytest.raises(TransportTimeout, match="read timeout"):
                    await t.send(Request("GET", f"http://127.0.0.1:{port}/"))
                assert not t._conns
            nursery.cancel_scope.cancel()

    run(main)


def test_connection_refused() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now

    async def main() -> None:
        async with H11Transport() as t:
            with pytest.raises(TransportError, match=f"could not connect to 127.0.0.1:{port}") as info:
                await t.send(Request("GET", f"http://127.0.0.1:{port}/"))
            assert isinstance(info.value.__cause__, OSError)

    run(main)


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


def test_tls_with_the_right_context(ca: trustme.CA) -> None:
    client = ssl.create_default_context()
    ca.configure_trust(client)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port, stats = await serve(nursery, keep_alive, tls=server_context(ca, "127.0.0.1", "localhost"))
            async with H11Transport(ssl_context=client) as t:
                for host in ("127.0.0.1", "localhost"):
                    for _ in range(2):
                        response = await t.send(Request("GET", f"https://{host}:{port}/fb.do"))
                        assert response.status == 200
                assert stats.connections == 2  # one per origin, reused
                assert all(isinstance(c.stream, trio.SSLStream) for c in t._conns)
            nursery.cancel_scope.cancel()

    run(main)


def test_tls_refuses_an_untrusted_server_by_default(ca: trustme.CA) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port, stats = await serve(nursery, keep_alive, tls=server_context(ca, "127.0.0.1"))
            async with H11Transport() as t:  # the system's CAs: trustme's CA is not among them
                with pytest.raises(TransportError, match="certificate verification failed") as info:
                    await t.send(Request("GET", f"https://127.0.0.1:{port}/fb.do?access_token=SECRET"))
                assert "SECRET" not in str(info.value)
                assert isinstance(info.value.__cause__, trio.BrokenResourceError)
                assert isinstance(info.value.__cause__.__cause__, ssl.SSLCertVerificationError)
                assert stats.requests == 0
                assert not t._conns
            nursery.cancel_scope.cancel()

    run(main)


def test_tls_checks_the_host_name(ca: trustme.CA) -> None:
    client = ssl.create_default_context()
    ca.configure_trust(client)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            # A certificate for another name, signed by a CA the client trusts.
            port, stats = await serve(nursery, keep_alive, tls=server_context(ca, "api.ok.ru"))
            async with H11Transport(ssl_context=client) as t:
                with pytest.raises(TransportError, match="certificate verification failed"):
                    await t.send(Request("GET", f"https://127.0.0.1:{port}/"))
                assert stats.requests == 0
            nursery.cancel_scope.cancel()

    run(main)
