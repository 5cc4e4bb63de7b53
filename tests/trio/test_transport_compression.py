"""Content-Encoding on okru_trio: asked for (gzip, deflate), decoded with zlib under
max_response_bytes, refused clearly when unknown, broken or a bomb.

Servers are in-memory h11 peers (``stream_factory``) except one session test on loopback TCP.
"""

from __future__ import annotations

import functools
import gzip
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import h11
import pytest
import trio
import trio.testing

from okru_proto import Endpoints, ProtocolError, UsageError
from okru_proto.adapter import Request
from okru_trio import ServerSession
from okru_trio._transport import H11Transport

URL = "http://127.0.0.1:8080/fb.do?method=users.getCurrentUser&access_token=SECRET"
JSON = b'{"uid":"123","name":"\xd0\x90\xd0\xbd\xd0\xbd\xd0\xb0"}' * 50


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


class Peer:
    """Answers every request with ``status``, ``headers`` and ``body``; records request heads."""

    def __init__(self, nursery: trio.Nursery, body: bytes, headers: list[tuple[bytes, bytes]],
                 status: int = 200) -> None:
        self.nursery = nursery
        self.body = body
        self.headers = headers
        self.status = status
        self.seen: list[h11.Request] = []

    async def factory(self, host: str, port: int, tls: bool) -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        self.nursery.start_soon(self.serve, server)
        return client

    async def serve(self, stream: trio.abc.Stream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                ev = conn.next_event()
                if ev is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                elif isinstance(ev, h11.Request):
                    self.seen.append(ev)
                elif isinstance(ev, h11.EndOfMessage):
                    head = self.seen[-1].method == b"HEAD"
                    headers = [*self.headers, (b"content-length", b"%d" % len(self.body))]
                    out = conn.send(h11.Response(status_code=self.status, headers=headers))
                    if not head and self.status not in (204, 304):
                        out += conn.send(h11.Data(data=self.body))
                    out += conn.send(h11.EndOfMessage())
                    await stream.send_all(out)
                    conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


def with_peer(body: bytes, headers: list[tuple[bytes, bytes]], fn: Callable[[H11Transport, Peer], Awaitable[Any]],
              *, status: int = 200, **options: Any) -> Any:
    async def main() -> Any:
        async with trio.open_nursery() as nursery:
            peer = Peer(nursery, body, headers, status)
            async with H11Transport(stream_factory=peer.factory, **options) as t:
                result = await fn(t, peer)
            nursery.cancel_scope.cancel()
            return result

    return trio.run(main)


async def get(t: H11Transport, peer: Peer, method: str = "GET") -> Any:
    return await t.send(Request(method, URL))


def expect_error(body: bytes, encoding: bytes, match: str, **options: Any) -> ProtocolError:
    async def call(t: H11Transport, peer: Peer) -> ProtocolError:
        with pytest.raises(ProtocolError, match=match) as info:
            await get(t, peer)
        assert "SECRET" not in str(info.value)
        assert "127.0.0.1:8080" in str(info.value)
        assert not t._conns  # a reply we could not decode never returns its connection to the pool
        return info.value

    return with_peer(body, [(b"content-encoding", encoding)], call, **options)  # type: ignore[no-any-return]


def test_every_request_asks_for_gzip_and_deflate_only() -> None:
    async def call(t: H11Transport, peer: Peer) -> None:
        await get(t, peer)
        await t.send(Request("POST", URL, (), b"x=1"))
        for request in peer.seen:
            assert [v for n, v in request.headers if n == b"accept-encoding"] == [b"gzip, deflate"]

    with_peer(b"{}", [], call)


def test_a_request_may_not_choose_its_own_accept_encoding() -> None:
    async def call(t: H11Transport, peer: Peer) -> None:
        with pytest.raises(UsageError, match="accept-encoding"):
            await t.send(Request("GET", URL, (("accept-encoding", "br"),)))
        assert peer.seen == []

    with_peer(b"{}", [], call)


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        (b"gzip", gzip.compress),
        (b"GZip", gzip.compress),
        (b"x-gzip", gzip.compress),
        (b"deflate", zlib.compress),  # RFC 9110's deflate: the zlib format
        (b"deflate", raw_deflate),  # what some servers send instead
        (b"identity", lambda b: b),
        (b"gzip, gzip", lambda b: gzip.compress(gzip.compress(b))),
        (b"deflate, gzip", lambda b: gzip.compress(zlib.compress(b))),
        (b"gzip,identity", gzip.compress),
    ],
)
def test_encoded_replies_are_decoded(encoding: bytes, encode: Callable[[bytes], bytes]) -> None:
    async def call(t: H11Transport, peer: Peer) -> None:
        response = await get(t, peer)
        assert response.body == JSON
        assert response.header("content-encoding") == encoding.decode()  # headers stay as received
        assert len(t._conns) == 1  # and the connection is reused
        assert (await get(t, peer)).body == JSON

    with_peer(encode(JSON), [(b"content-encoding", encoding)], call)


def test_two_content_encoding_lines_are_one_list_in_order() -> None:
    async def call(t: H11Transport, peer: Peer) -> None:
        assert (await get(t, peer)).body == JSON

    with_peer(gzip.compress(zlib.compress(JSON)), [(b"content-encoding", b"deflate"), (b"content-encoding", b"gzip")],
              call)


def test_concatenated_gzip_members_are_joined() -> None:
    async def call(t: H11Transport, peer: Peer) -> None:
        assert (await get(t, peer)).body == JSON + b"tail"

    with_peer(gzip.compress(JSON) + gzip.compress(b"tail"), [(b"content-encoding", b"gzip")], call)


@pytest.mark.parametrize("status", [204, 304])
def test_an_empty_body_with_a_coding_is_empty(status: int) -> None:
    async def call(t: H11Transport, peer: Peer) -> None:
        assert (await get(t, peer)).body == b""
        assert (await get(t, peer, "HEAD")).body == b""

    with_peer(gzip.compress(JSON), [(b"content-encoding", b"gzip")], call, status=status)


@pytest.mark.parametrize("coding", [b"br", b"zstd", b"compress", b"gzip, br"])
def test_unknown_codings_are_refused(coding: bytes) -> None:
    name = coding.split(b",")[-1].strip().decode()
    expect_error(b"\x1b\x00\x00", coding, f"Content-Encoding '{name}', which okru cannot decode")


def test_more_than_three_stacked_codings_are_refused() -> None:
    body = JSON
    for _ in range(4):
        body = gzip.compress(body)
    expect_error(body, b", ".join([b"gzip"] * 4), "4 stacked Content-Encodings; okru decodes at most 3")


@pytest.mark.parametrize(
    ("encoding", "body", "detail"),
    [
        (b"gzip", b"this is not gzip at all", "incorrect header check"),
        (b"gzip", gzip.compress(JSON)[:-12], "truncated"),
        (b"gzip", gzip.compress(JSON)[:-4] + b"\x00\x00\x00\x00", "incorrect length check"),
        (b"gzip", gzip.compress(JSON) + b"garbage", "incorrect header check"),
        (b"deflate", zlib.compress(JSON) + b"junk", "after the end of the compressed data"),
        (b"deflate", b"\xff\xff\xff\xff", "invalid"),
    ],
    ids=["not-gzip", "truncated", "bad-length", "gzip-then-garbage", "deflate-then-junk", "not-deflate"],
)
def test_a_body_that_does_not_decode_is_a_protocol_error(encoding: bytes, body: bytes, detail: str) -> None:
    error = expect_error(body, encoding, f"does not decode as its Content-Encoding '{encoding.decode()}'")
    assert detail in str(error)
    assert isinstance(error.__cause__, zlib.error)


def test_a_decompression_bomb_is_refused_at_the_cap() -> None:
    # 100 MB of zeros gzip to ~100 KB; decoding must stop one byte past 16 MiB, not build 100 MB.
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    bomb = b"".join(c.compress(zeros) for _ in range(100)) + c.flush()
    assert len(bomb) < 1 << 20
    expect_error(bomb, b"gzip", r"over max_response_bytes=16777216 \(once decoded from Content-Encoding 'gzip'\)")


@pytest.mark.parametrize("encoding", [b"gzip", b"deflate", b"gzip, gzip"])
def test_the_cap_applies_to_the_decoded_size_exactly(encoding: bytes) -> None:
    data = bytes(range(256)) * 40  # 10240 bytes
    body = data
    for name in reversed(encoding.split(b", ")):
        body = gzip.compress(body) if name == b"gzip" else zlib.compress(body)
    body2 = body

    async def fits(t: H11Transport, peer: Peer) -> None:
        assert (await get(t, peer)).body == data

    with_peer(body2, [(b"content-encoding", encoding)], fits, max_response_bytes=len(data))
    expect_error(body2, encoding, rf"over max_response_bytes={len(data) - 1} \(once decoded",
                 max_response_bytes=len(data) - 1)


def test_the_cap_still_applies_to_the_bytes_on_the_wire() -> None:
    expect_error(gzip.compress(JSON), b"gzip", r"response body over max_response_bytes=10 \(Content-Length: \d+\)", max_response_bytes=10)


def test_a_session_reads_a_gzipped_reply_over_tcp() -> None:
    """What used to fail every call with "reply is not UTF-8": a proxy that gzips anyway."""
    reply = gzip.compress('{"uid":"123","name":"Анна"}'.encode())

    async def gzipping(stream: trio.SocketStream) -> None:
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
                    headers = [(b"content-type", b"application/json;charset=utf-8"),
                               (b"content-encoding", b"gzip"), (b"content-length", b"%d" % len(reply))]
                    await stream.send_all(conn.send(h11.Response(status_code=200, headers=headers))
                                          + conn.send(h11.Data(data=reply)) + conn.send(h11.EndOfMessage()))
                    conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def main() -> None:
        with trio.fail_after(20):  # a guard against a hung test, not a timing assumption
            async with trio.open_nursery() as nursery:
                listeners = await nursery.start(functools.partial(trio.serve_tcp, gzipping, 0, host="127.0.0.1"))
                port = listeners[0].socket.getsockname()[1]
                async with ServerSession("512000000000", "CBAFJIICABABABABA", "0123456789ABCDEF0123456789ABCDEF",
                                         "-s-token", endpoints=Endpoints(api=f"http://127.0.0.1:{port}")) as session:
                    assert await session.call("users.getCurrentUser") == {"uid": "123", "name": "Анна"}
                nursery.cancel_scope.cancel()

    trio.run(main)
