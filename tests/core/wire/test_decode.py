"""okru_proto.adapter's reply decoding: the one gzip/deflate implementation both adapters use.

okru_httpx feeds an ``Inflater`` chunk by chunk as the body arrives; okru_trio calls
``decode_body`` once the body is read. Both must agree with each other and with zlib on every
body and every chunking, and neither may build more than one byte past the cap.
"""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okru_proto import ProtocolError
from okru_proto.adapter import ACCEPT_ENCODING, DECODED_CODINGS, Inflater, decode_body


def _gzip(data: bytes) -> bytes:
    return zlib.compress(data, wbits=16 + zlib.MAX_WBITS)


def _raw_deflate(data: bytes) -> bytes:
    obj = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return obj.compress(data) + obj.flush()


# (Content-Encoding, encoder): HTTP's deflate is zlib-wrapped, but raw streams are accepted too.
ENCODERS = [("gzip", _gzip), ("x-gzip", _gzip), ("deflate", zlib.compress), ("deflate", _raw_deflate)]


def _feed(coding: str, chunks: list[bytes], cap: int) -> bytes | None:
    """What BodyReader does: each step's room is what is left of the cap plus one byte."""
    inflater = Inflater(coding)
    out = b""
    for chunk in chunks:
        piece = inflater.feed(chunk, cap - len(out) + 1)
        assert len(piece) <= cap - len(out) + 1
        out += piece
        if len(out) > cap:
            return None
    out += inflater.finish(cap - len(out) + 1)
    return None if len(out) > cap else out


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=150, deadline=None)
@given(
    payload=st.binary(max_size=3000) | st.builds(lambda n: b"\0" * n, st.integers(0, 50_000)),
    which=st.sampled_from(range(len(ENCODERS))),
    cuts=st.lists(st.integers(0, 4000), max_size=5),
    cap=st.integers(0, 60_000),
)
def test_chunked_and_whole_decoding_agree_with_zlib(payload: bytes, which: int, cuts: list[int], cap: int) -> None:
    coding, encode = ENCODERS[which]
    body = encode(payload)
    fits = len(payload) <= cap
    assert _feed(coding, _split(body, cuts), cap) == (payload if fits else None)
    if fits:
        assert decode_body(body, [coding], cap, "h:1") == payload
    else:
        with pytest.raises(ProtocolError, match=r"h:1 sent a response body over max_response_bytes=\d+ \(once decoded from Content-Encoding"):
            decode_body(body, [coding], cap, "h:1")


def test_a_bomb_is_seen_without_being_built() -> None:
    bomb = _gzip(b"\0" * 20_000_000)  # ~20 KB that inflate to 20 MB
    inflater = Inflater("gzip")
    assert len(inflater.feed(bomb, 1001)) == 1001  # never more than the room asked for
    with pytest.raises(ProtocolError, match=r"over max_response_bytes=1000 \(once decoded from Content-Encoding 'gzip'\)"):
        decode_body(bomb, ["gzip"], 1000, "h:1")


def test_stacked_members_and_layers() -> None:
    twice = _gzip(b"a") + _gzip(b"b")  # concatenated gzip members are one body (RFC 1952 §2.2)
    assert decode_body(twice, ["gzip"], 10, "h:1") == b"ab"
    assert _feed("gzip", [twice[:5], twice[5:]], 10) == b"ab"
    layered = _gzip(zlib.compress(b"hi"))  # deflate applied first, gzip second
    assert decode_body(layered, ["deflate", "identity", "gzip"], 10, "h:1") == b"hi"
    assert decode_body(layered, ["deflate, gzip"], 10, "h:1") == b"hi"
    with pytest.raises(ProtocolError, match="4 stacked Content-Encodings; okru decodes at most 3"):
        decode_body(layered, ["gzip"] * 4, 10, "h:1")


@pytest.mark.parametrize(("body", "codings", "why"), [
    (_gzip(b"x")[:-3], ["gzip"], "ends early"),
    (zlib.compress(b"x") + b"zz", ["deflate"], "2 bytes after the end"),
    (b"\x1f", ["deflate"], "invalid block type"),  # one byte: zlib's own diagnosis, on both paths
    (_gzip(b""), ["deflate", "gzip"], "ends early"),  # an inner layer that decodes to nothing
    (b"plain", ["br"], "Content-Encoding 'br', which okru cannot decode"),
])
def test_what_does_not_decode_is_a_protocol_error(body: bytes, codings: list[str], why: str) -> None:
    with pytest.raises(ProtocolError, match=why) as caught:
        decode_body(body, codings, 100, "h:1")
    assert str(caught.value).startswith("h:1 sent a ")
    if codings == ["deflate"]:
        with pytest.raises(zlib.error, match=why):
            _feed("deflate", [body], 100)


def test_empty_bodies_and_identity_are_left_alone() -> None:
    assert decode_body(b"", ["gzip"], 0, "h:1") == b""  # HEAD, 204, 304
    assert decode_body(b"", ["br"], 0, "h:1") == b""
    assert decode_body(b"as is", ["identity", " "], 5, "h:1") == b"as is"
    assert Inflater("deflate").finish(1) == b""


def test_what_okru_asks_for_is_what_it_decodes() -> None:
    assert {c.strip() for c in ACCEPT_ENCODING.split(",")} <= DECODED_CODINGS
