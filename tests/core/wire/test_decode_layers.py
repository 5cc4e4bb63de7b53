"""okru_proto.adapter.BodyDecoder: a reply's whole Content-Encoding, every layer streamed into
the next (issue 20 item 1).

Whatever the chunking, the decoded body equals what zlib makes of the nested layers; the decoded
output is never more than the cap plus one piece; no intermediate layer is ever built whole; the
header's spellings (case, spaces, blank elements, several lines, identity, x-gzip) are one list;
unknown codings and more than three layers are refused only once a body byte arrives.
"""

from __future__ import annotations

import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okru_proto import ProtocolError
from okru_proto.adapter import MAX_CODINGS, BodyDecoder, decode_body

MIB = 1024 * 1024
WBITS = {"gzip": 31, "x-gzip": 31, "deflate": zlib.MAX_WBITS}


def encode(data: bytes, applied: list[str]) -> bytes:
    for coding in applied:
        compressor = zlib.compressobj(6, zlib.DEFLATED, WBITS[coding])
        data = compressor.compress(data) + compressor.flush()
    return data


def feed_all(codings: list[str], chunks: list[bytes], cap: int) -> bytes:
    decoder = BodyDecoder(codings, cap, "h:1")
    for chunk in chunks:
        decoder.feed(chunk)
        assert decoder.size <= cap
    return decoder.finish()


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=150, deadline=None)
@given(
    payload=st.binary(max_size=2000) | st.builds(lambda n: b"\0" * n, st.integers(0, 60_000)),
    applied=st.lists(st.sampled_from(["gzip", "x-gzip", "deflate"]), min_size=1, max_size=MAX_CODINGS),
    cuts=st.lists(st.integers(0, 3000), max_size=6),
    cap=st.integers(0, 70_000),
)
def test_layers_decode_like_zlib_in_any_chunking(payload: bytes, applied: list[str], cuts: list[int],
                                                 cap: int) -> None:
    body = encode(payload, applied)
    header = ", ".join(applied)
    if len(payload) <= cap:
        assert feed_all([header], split(body, cuts), cap) == payload
        assert decode_body(body, [header], cap, "h:1") == payload
    else:
        with pytest.raises(ProtocolError, match=r"over max_response_bytes=\d+ \(once decoded from Content-Encoding"):
            feed_all([header], split(body, cuts), cap)


@pytest.mark.parametrize("header", [
    ["gzip, gzip"], ["GZIP,Gzip"], ["gzip", "gzip"], [" gzip ,, gzip "], ["x-gzip, gzip"],
    ["identity, gzip", "identity, x-gzip, identity"],
])
def test_every_spelling_is_one_list(header: list[str]) -> None:
    body = encode(b'{"uid":"1"}', ["gzip", "gzip"])
    assert decode_body(body, header, 100, "h:1") == b'{"uid":"1"}'
    assert not BodyDecoder(header, 100, "h:1").identity
    assert BodyDecoder(["identity", " , identity"], 100, "h:1").identity


def test_a_stacked_bomb_never_builds_a_layer() -> None:
    # gzip(gzip(256 MiB of zeros)) is 590 bytes; the inner layer alone is 260 KB, the body 256 MiB.
    body = encode(bytes(256 * MIB), ["gzip", "gzip"])
    assert len(body) < 2000
    decoder = BodyDecoder(["gzip, gzip"], MIB, "h:1")
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError, match=r"over max_response_bytes=1048576 \(once decoded from "
                                                r"Content-Encoding 'gzip, gzip'\)"):
            decoder.feed(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * MIB, f"peak {peak / MIB:.2f} MiB"


def test_an_intermediate_layer_is_held_to_about_the_cap() -> None:
    # A raw deflate stream of 300,000 empty stored blocks (5 bytes each) decodes to nothing, but
    # as the outer gzip layer's output it is 1.5 MB of work: past what a body under a 1 MiB cap
    # can need, so it is refused although the decoded body stays empty.
    empty_blocks = b"\x00\x00\x00\xff\xff" * 300_000 + b"\x01\x00\x00\xff\xff"
    assert zlib.decompress(empty_blocks, -zlib.MAX_WBITS) == b""
    body = encode(empty_blocks, ["gzip"])
    assert decode_body(body, ["deflate, gzip"], 2 * MIB, "h:1") == b""
    with pytest.raises(ProtocolError, match="max_response_bytes=1048576"):
        decode_body(body, ["deflate, gzip"], MIB, "h:1")


def test_an_empty_inner_layer_and_trailing_bytes_do_not_decode() -> None:
    with pytest.raises(ProtocolError, match="ends early"):
        decode_body(encode(b"", ["gzip"]), ["gzip, gzip"], 100, "h:1")
    with pytest.raises(ProtocolError, match="after the end"):
        decode_body(encode(zlib.compress(b"x") + b"zz", ["gzip"]), ["deflate, gzip"], 100, "h:1")
    with pytest.raises(ProtocolError, match="ends early"):
        decode_body(encode(b"hello", ["gzip", "gzip"])[:-3], ["gzip, gzip"], 100, "h:1")


def test_gzip_members_are_bounded() -> None:
    member = encode(b"", ["gzip"])
    assert decode_body(member * 1000, ["gzip"], 10, "h:1") == b""
    with pytest.raises(ProtocolError, match="more than 1000 gzip members"):
        decode_body(member * 1001, ["gzip"], 10, "h:1")


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "x-compress", "gzip, br", "br, gzip", "x-deflate"])
def test_what_okru_cannot_decode_is_refused_at_the_first_body_byte(coding: str) -> None:
    decoder = BodyDecoder([coding], 100, "h:1")
    assert decoder.finish() == b""  # no body (HEAD, 204, 304): nothing to refuse
    decoder = BodyDecoder([coding], 100, "h:1")
    with pytest.raises(ProtocolError, match=r"h:1 sent a reply with Content-Encoding '[\w-]+', which okru cannot"):
        decoder.feed(b"\x1f\x8b")


def test_more_than_three_layers_are_refused() -> None:
    body = encode(b"x", ["gzip"] * 4)
    assert decode_body(encode(b"x", ["gzip"] * 3), ["gzip"] * 3, 10, "h:1") == b"x"
    with pytest.raises(ProtocolError, match="4 stacked Content-Encodings; okru decodes at most 3"):
        decode_body(body, ["gzip"] * 4, 10, "h:1")
    # identity is no layer
    assert decode_body(encode(b"x", ["gzip"] * 3), ["gzip, identity, gzip, identity, gzip"], 10, "h:1") == b"x"
