"""Paging of the emulator's list methods: everything about ``anchor``/``direction``/``count``.

Anchors are opaque to clients (docs/protocol.md §7.3); here they are ``base64("<list key>:<index>")``,
so an anchor from one list is refused by another (error 100).
"""

from __future__ import annotations

import base64

from ._api_errors import ApiFail
from ._call import CallContext

__all__ = ["anchor", "page", "parse_anchor", "with_anchor"]


def anchor(key: str, index: int) -> str:
    return base64.urlsafe_b64encode(f"{key}:{index}".encode()).decode().rstrip("=")


def parse_anchor(key: str, anchor: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(anchor + "=" * (-len(anchor) % 4)).decode()
        prefix, _, index = raw.rpartition(":")
        return int(index) if prefix == key and index.isdigit() else None
    except (ValueError, UnicodeDecodeError):
        return None


def page(ctx: CallContext, key: str, total: int, *, default: int = 10) -> tuple[int, int, bool, str | None]:
    """(start, end, has_more, new_anchor) for anchor/direction/count paging (docs/protocol.md §7.3)."""
    count = ctx.int_param("count", default, 1, 100)
    direction = ctx.params.get("direction", "FORWARD").upper() or "FORWARD"
    raw_anchor = ctx.params.get("anchor")
    index: int | None = None
    if raw_anchor:
        index = parse_anchor(key, raw_anchor)
        if index is None:
            raise ApiFail(100, f"Invalid parameter anchor value : {raw_anchor}")
    if direction == "FORWARD":
        start = 0 if index is None else index + 1
        end = min(total, start + count)
        has_more = end < total
        anchor_index = end - 1 if end > start else index
    elif direction == "BACKWARD":
        end = total if index is None else index
        start = max(0, end - count)
        has_more = start > 0
        anchor_index = start if end > start else index
    elif direction == "AROUND":
        center = 0 if index is None else index
        start = max(0, center - count // 2)
        end = min(total, start + count)
        has_more = start > 0 or end < total
        anchor_index = center
    else:
        raise ApiFail(100, f"Invalid parameter direction value : {direction}")
    new_anchor = anchor(key, anchor_index) if anchor_index is not None else raw_anchor
    return start, end, has_more, new_anchor


def with_anchor(result: dict[str, object], anchor: str | None) -> dict[str, object]:
    """A page's result with its ``anchor`` (left out when there is none)."""
    if anchor is not None:
        result["anchor"] = anchor
    return result
