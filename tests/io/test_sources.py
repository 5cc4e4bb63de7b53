"""The upload sources both adapters read through the core: one size rule, one reader, one wording."""

from __future__ import annotations

import io
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okru_io import SourceReader, describe_source, source_size
from okru_proto import UsageError
from okru_proto.adapter import SourceRange


def test_sizes_of_every_kind_of_source(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"x" * 1234)
    assert source_size(b"abc") == 3
    assert source_size(bytearray(5)) == 5
    assert source_size(memoryview(b"abcdef")[1:3]) == 2
    assert source_size(str(path)) == 1234 == source_size(path)
    with path.open("rb") as handle:
        assert source_size(handle) == 1234
        assert handle.tell() == 0  # measured without moving it


def test_unusable_sources_say_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"cannot read upload source '.*missing.mp4': No such file"):
        source_size(tmp_path / "missing.mp4")
    with pytest.raises(UsageError, match="is not a regular file"):
        source_size(tmp_path)
    handle = io.BytesIO(b"0123456789")
    handle.seek(4)
    with pytest.raises(UsageError, match="must be at position 0"):
        source_size(handle)
    assert handle.tell() == 4  # left where the caller had it
    closed = io.BytesIO(b"x")
    closed.close()
    with pytest.raises(UsageError, match="cannot read upload source the BytesIO source") as raised:
        source_size(closed)
    assert isinstance(raised.value.__cause__, ValueError)


@given(data=st.binary(min_size=1, max_size=300), cuts=st.lists(st.integers(0, 300), max_size=6))
def test_ranges_read_back_exactly(data: bytes, cuts: list[int]) -> None:
    edges = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    handle = io.BytesIO(data)
    reader = SourceReader()
    parts = [reader.read(SourceRange(handle, a, b - a)) for a, b in pairwise(edges)]
    assert b"".join(parts) == data
    # Read again out of order (a resumed chunk): the same bytes.
    assert [reader.read(SourceRange(handle, a, b - a)) for a, b in reversed(list(pairwise(edges)))] == parts[::-1]


def test_a_path_is_opened_once_and_closed_by_close(tmp_path: Path) -> None:
    path = tmp_path / "v.bin"
    path.write_bytes(bytes(range(200)))
    reader = SourceReader()
    assert reader.read(SourceRange(path, 10, 5)) == bytes(range(10, 15))
    assert reader.read(SourceRange(path, 0, 3)) == bytes(range(3))
    (handle,) = reader._open.values()
    reader.close()
    assert handle.closed and not reader._open


def test_a_source_that_shrank_is_an_error_not_a_short_body(tmp_path: Path) -> None:
    path = tmp_path / "v.bin"
    path.write_bytes(b"x" * 100)
    reader = SourceReader()
    with pytest.raises(UsageError, match=r"'.*v.bin' ended early \(it changed during the upload\)"):
        reader.read(SourceRange(path, 90, 20))
    reader.close()


def test_sources_are_named_without_their_content() -> None:
    assert describe_source("/tmp/a.mp4") == "'/tmp/a.mp4'"
    named = io.BufferedReader(io.BytesIO(b"secret-bytes"))
    assert describe_source(named) == "the BufferedReader source"
    assert describe_source(b"secret-bytes") == "the bytes source"
