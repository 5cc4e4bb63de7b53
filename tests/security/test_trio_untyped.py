"""okru_trio lets nothing untyped out of a public call: every failure is an ``okru_proto.Error``
with the cause chained, whatever trio, h11, ssl, zlib, IDNA or the OS raised underneath.

Covered here: photo paths that cannot be read, URLs and redirect Locations that cannot be
routed, closing streams that fail to close, and arbitrary bytes from a server (Hypothesis).
"""

from __future__ import annotations

import functools
import gzip
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import h11
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import okru_proto
from okru_proto import Endpoints, UsageError
from okru_proto.adapter import Request
from okru_trio import ImplicitSession, ServerSession
from okru_trio._transport import H11Transport

APP = ("512000000000", "CBAFJIICABABABABA", "0123456789ABCDEF0123456789ABCDEF")


def run(fn: Callable[[], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        with trio.fail_after(20):  # a guard against a hung test, not a timing assumption
            return await fn()

    return trio.run(main)


@pytest.mark.parametrize("kind", ["missing", "directory", "nul"])
def test_upload_photos_with_a_path_that_cannot_be_read_is_a_usage_error(tmp_path: Path, kind: str) -> None:
    path = {"missing": str(tmp_path / "nope.jpg"), "directory": str(tmp_path), "nul": "a\x00b.jpg"}[kind]

    async def main() -> None:
        # Nothing listens on port 9: the files are read before any request, so it is never dialled.
        async with ServerSession(*APP, "-s-secret-token", endpoints=Endpoints(api="http://127.0.0.1:9")) as session:
            reason = "is not a regular file" if kind == "directory" else "cannot read upload source"
            with pytest.raises(UsageError, match=reason) as info:
                await session.upload_photos(path)
            if kind != "directory":  # a stat that failed: the OS error stays chained
                assert isinstance(info.value.__cause__, (OSError, ValueError))
            assert "-s-secret-token" not in str(info.value)

    run(main)


@pytest.mark.parametrize(
    "url",
    [
        "https://ex\u00e4mple..com/fb.do",  # IDNA: an empty label
        "https://.example.com/fb.do",  # IDNA at connect time
        "https://" + "a" * 70 + ".com/fb.do",  # a label over 63 characters
        "http://127.0.0.1:99999/fb.do",
        "http://[::1/fb.do",
        "http://127.0.0.1:9/a b",
        "http://127.0.0.1:9/\u00e4",
        "http://user:pw@127.0.0.1:9/",
        "ftp://127.0.0.1/",
        "http://example.com/",
    ],
)
def test_a_url_that_cannot_be_routed_is_typed(url: str) -> None:
    async def main() -> None:
        async with H11Transport(connect_timeout=5) as t:
            with pytest.raises(okru_proto.Error) as info:
                await t.send(Request("GET", url))
            assert isinstance(info.value, (UsageError, okru_proto.TransportError))

    run(main)


@pytest.mark.parametrize("location", [b"/a b", b"/\xe4", b"http://127.0.0.1:99999/x", b"//[::1/x", b"http://[/x",
                                      b"https://ok.ru.evil.example/x", b"\x7f"])
def test_a_bad_redirect_location_in_the_dialog_is_typed(location: bytes) -> None:
    async def redirect(stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                ev = conn.next_event()
                if ev is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                elif isinstance(ev, h11.EndOfMessage):
                    headers = [(b"location", location), (b"content-length", b"0")]
                    await stream.send_all(conn.send(h11.Response(status_code=302, headers=headers))
                                          + conn.send(h11.EndOfMessage()))
                    conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(functools.partial(trio.serve_tcp, redirect, 0, host="127.0.0.1"))
            base = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
            session = ImplicitSession(APP[0], APP[1], APP[2], "user", "PASSWORD-SECRET", "VALUABLE_ACCESS",
                                      endpoints=Endpoints(api=base, connect=base))
            with pytest.raises(okru_proto.Error) as info:
                async with session:
                    pass  # pragma: no cover - the dialog cannot succeed
            assert "PASSWORD-SECRET" not in str(info.value)
            nursery.cancel_scope.cancel()

    run(main)


class FailingClose(trio.abc.Stream):
    """A stream whose close fails the way a reset or half-done TLS stream can."""

    def __init__(self, inner: trio.abc.Stream, error: BaseException) -> None:
        self.inner = inner
        self.error = error

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:  # pragma: no cover - unused
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()
        raise self.error


@pytest.mark.parametrize("error", [trio.BrokenResourceError("reset"), OSError(104, "Connection reset by peer")])
def test_aclose_and_a_failed_call_survive_a_stream_that_fails_to_close(error: BaseException) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            async def peer(stream: trio.abc.Stream, answer: bool) -> None:
                if await stream.receive_some(65536) and answer:
                    await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    await trio.sleep_forever()
                await stream.aclose()  # the second connection: read the request, hang up

            answers = iter([True, False])

            async def factory(host: str, port: int, tls: bool) -> trio.abc.Stream:
                client, server = trio.testing.memory_stream_pair()
                nursery.start_soon(peer, server, next(answers))
                return FailingClose(client, error)

            t = H11Transport(stream_factory=factory)
            assert (await t.send(Request("GET", "http://127.0.0.1:9/"))).body == b"ok"  # pooled
            await t.aclose()  # closing the pooled stream fails underneath: not our caller's problem
            await t.aclose()
            t2 = H11Transport(stream_factory=factory)
            with pytest.raises(okru_proto.TransportError, match="without replying"):
                await t2.send(Request("GET", "http://127.0.0.1:9/"))  # discarding it fails too
            await t2.aclose()
            nursery.cancel_scope.cancel()

    run(main)


_heads = st.sampled_from([
    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Encoding: gzip, br\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Encoding: x-gzip\r\n",
    b"",
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=_heads, body=st.one_of(st.binary(max_size=200), st.binary(max_size=200).map(gzip.compress)),
       cut=st.integers(min_value=0, max_value=400), declared=st.integers(min_value=0, max_value=300))
def test_any_reply_bytes_give_a_response_or_a_typed_error(head: bytes, body: bytes, cut: int, declared: int) -> None:
    reply = (head.replace(b"%d", b"%d" % declared) + b"\r\n" + body)[: cut if cut < 400 else None]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            async def peer(stream: trio.abc.Stream) -> None:
                await stream.receive_some(65536)
                try:
                    await stream.send_all(reply)
                finally:
                    await stream.aclose()

            async def factory(host: str, port: int, tls: bool) -> trio.abc.Stream:
                client, server = trio.testing.memory_stream_pair()
                nursery.start_soon(peer, server)
                return client

            async with H11Transport(stream_factory=factory, max_response_bytes=1000) as t:
                try:
                    response = await t.send(Request("GET", "http://127.0.0.1:9/fb.do?access_token=SECRET"))
                except okru_proto.Error as exc:
                    assert "SECRET" not in str(exc)
                else:
                    assert len(response.body) <= 1000
            nursery.cancel_scope.cancel()

    run(main)
