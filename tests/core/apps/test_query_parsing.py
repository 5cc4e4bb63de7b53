"""The query string of a launch or payment callback is read as ``urllib.parse.parse_qsl`` reads
it (keep_blank_values, UTF-8 strict): okru's own loop (okru_proto/apps/_signed.py) exists only
for speed, so any difference is a bug. Duplicates, empty names and bad UTF-8 are refused."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote_plus

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from okru_proto.apps._signed import MAX_PARAMS, BadParams, read_params

# The characters whose handling differs between a naive split and parse_qsl.
_PIECES = st.sampled_from(["a", "b", "sig", "=", "&", "+", "%", "%2", "%20", "%3A", "%26", "%3D", "%2B",
                           "%C3%A9", "%C3", "%FF", "é", ";", " ", "?", "x=y"])


def _reference(text: str) -> dict[str, str] | None:
    """parse_qsl's reading, or None where okru refuses (bad UTF-8, a repeated or empty name)."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict",
                          max_num_fields=MAX_PARAMS)
    except (UnicodeDecodeError, ValueError):
        return None
    out = dict(pairs)
    if len(out) != len(pairs) or "" in out:
        return None
    return out


@given(st.lists(_PIECES, max_size=30).map("".join))
@example("amount=10&transaction_time=2024-06-10+12%3A34%3A56&sig=ABC")
@example("a=1&&b=&c")
@example("a=%C3%A9&b=%C3")
@example("a=1&a=2")
def test_reads_as_parse_qsl_does(text: str) -> None:
    expected = _reference(text)
    if expected is None:
        with pytest.raises(BadParams):
            read_params("?" + text)
    else:
        assert read_params("?" + text) == expected


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=10))
def test_any_encoded_mapping_reads_back(params: dict[str, str]) -> None:
    text = "&".join(f"{quote_plus(k, errors='surrogatepass')}={quote_plus(v, errors='surrogatepass')}"
                    for k, v in params.items())
    try:
        expected = _reference(text)
    except UnicodeEncodeError:
        return
    if expected is None:
        with pytest.raises(BadParams):
            read_params("?" + text)
    else:
        assert read_params("?" + text) == expected == params


def test_more_fields_than_the_limit_are_refused() -> None:
    assert len(read_params("?" + "&".join(f"p{i}=1" for i in range(MAX_PARAMS)))) == MAX_PARAMS
    with pytest.raises(BadParams, match="more than"):
        read_params("?" + "&".join(f"p{i}=1" for i in range(MAX_PARAMS + 1)))
