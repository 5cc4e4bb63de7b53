"""Anchor paging as a pure state machine (docs/protocol.md §7.3).

:class:`Pager` builds each request's parameters (``anchor``, ``direction``, ``count``) and reads
each result: the newer shape (``anchor`` + ``has_more``) and the legacy one (camelCase
``hasMore`` + ``pagingAnchor`` or ``anchor``). It finds the list of items, and decides when to
stop: ``has_more`` false, no anchor to continue from, an anchor seen before (no progress), or
``max_pages``. Every adapter's ``pages()``/``items()`` is a few lines around
:meth:`Pager.page_flow`, so sync and async iterate the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._errors import ProtocolError, UsageError
from ._flow import Flow, guarded
from ._wire.rest import check_method_name

if TYPE_CHECKING:
    from ._session import SessionCore

__all__ = ["DEFAULT_MAX_PAGES", "Page", "Pager"]

#: Default bound on the pages one iteration fetches (every loop in okru is bounded).
DEFAULT_MAX_PAGES = 1000

# Fields of a paged reply that describe the page rather than hold its items.
_META = frozenset({"anchor", "pagingAnchor", "has_more", "hasMore", "totalCount", "total_count", "etag"})


@dataclass(frozen=True, slots=True)
class Page:
    """One page: its ``items``, the ``anchor`` to continue from, ``has_more`` as OK said it (or
    as inferred), and the ``raw`` result (for fields such as ``totalCount``)."""

    items: tuple[Any, ...]
    anchor: str | None
    has_more: bool
    raw: Any = field(repr=False, compare=False)


def _flag(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, int):
        return value != 0
    return None


class Pager:
    """The state of one paged iteration over ``method`` (no I/O: feed it results).

    ``params`` are sent on every page (an ``anchor`` in them is where to start); ``count`` and
    ``direction`` (e.g. ``"FORWARD"``) are sent when given. ``items`` names the reply's list
    field (``"members"``); without it the one list-valued field is used. ``anchor_param`` is the
    request parameter that carries the anchor back (``"anchor"``, docs/protocol.md §7.3).

        pager = Pager("group.getMembers", {"uid": gid}, count=100)
        while not pager.done:
            page = pager.feed(call(pager.method, pager.next_params()))
    """

    def __init__(
        self,
        method: str,
        params: Mapping[str, object] | None = None,
        *,
        count: int | None = None,
        direction: str | None = None,
        items: str | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        anchor_param: str = "anchor",
    ) -> None:
        self.method = check_method_name(method)
        if params is not None and not isinstance(params, Mapping):
            raise UsageError("params must be a mapping of parameter names to values")
        base = dict(params or {})
        if count is not None and (type(count) is not int or count < 1):
            raise UsageError(f"count must be a positive int, got {count!r}")
        if direction is not None and (not isinstance(direction, str) or not direction):
            raise UsageError("direction must be a non-empty str such as 'FORWARD'")
        if items is not None and (not isinstance(items, str) or not items):
            raise UsageError("items must name the reply's list field, e.g. 'members'")
        if type(max_pages) is not int or max_pages < 1:
            raise UsageError(f"max_pages must be a positive int, got {max_pages!r}")
        if not isinstance(anchor_param, str) or not anchor_param:
            raise UsageError("anchor_param must be a non-empty str")
        start = base.pop(anchor_param, None)
        self.anchor: str | None = None if start is None or start == "" else str(start)
        if count is not None:
            base["count"] = count
        if direction is not None:
            base["direction"] = direction
        self.params = base
        self.items_field = items
        self.max_pages = max_pages
        self.anchor_param = anchor_param
        self.pages = 0
        self.done = False
        #: Why the iteration ended: "no_more", "no_anchor", "no_progress", "max_pages" (or None).
        self.stopped: str | None = None
        self._sent: set[str] = set()

    def next_params(self) -> dict[str, object]:
        """The parameters of the next request."""
        if self.done:
            raise UsageError("this pager is done; make a new one to iterate again")
        if self.anchor is None:
            return dict(self.params)
        return {**self.params, self.anchor_param: self.anchor}

    def _items(self, result: Mapping[str, Any]) -> tuple[Any, ...]:
        if self.items_field is not None:
            value = result.get(self.items_field)
            if value is None:
                return ()  # OK leaves empty lists out
            if not isinstance(value, list):
                raise ProtocolError(f"{self.method}: field {self.items_field!r} of the page is "
                                    f"{type(value).__name__}, not a list", method=self.method)
            return tuple(value)
        lists = [key for key, value in result.items() if key not in _META and isinstance(value, list)]
        if len(lists) > 1:
            raise UsageError(f"{self.method}: the page has several lists ({', '.join(sorted(lists))}); "
                             "pass items= to name the one to iterate")
        return tuple(result[lists[0]]) if lists else ()

    def feed(self, result: object) -> Page:
        """Read one page's result and advance (``done`` tells whether to fetch another)."""
        if self.done:
            raise UsageError("this pager is done; make a new one to iterate again")
        self.pages += 1
        sent = self.anchor
        if sent is not None:
            self._sent.add(sent)
        if isinstance(result, list):
            # A bare array (methods that are not paged, or old replies): one final page.
            page = Page(tuple(result), None, False, result)
            self._stop("no_more")
            return page
        if not isinstance(result, Mapping):
            self._stop("no_more")
            raise ProtocolError(f"{self.method}: expected a page object, got {type(result).__name__}",
                                method=self.method)
        items = self._items(result)
        raw_anchor = result.get("anchor")
        if raw_anchor is None or raw_anchor == "":
            # Legacy photos.getAlbums (docs/protocol.md §7.3, YANDEX 2014).
            raw_anchor = result.get("pagingAnchor")
        if raw_anchor is None or raw_anchor == "":
            anchor = None
        elif isinstance(raw_anchor, (str, int)) and not isinstance(raw_anchor, bool):
            anchor = str(raw_anchor)
        else:
            self._stop("no_more")
            raise ProtocolError(f"{self.method}: the page's anchor is {type(raw_anchor).__name__}, not a str",
                                method=self.method)
        flag = _flag(result.get("has_more"))
        if flag is None:
            flag = _flag(result.get("hasMore"))
        # No flag at all (photos.getPhotoLikes: {"anchor", "users"}): more while pages come full.
        has_more = flag if flag is not None else bool(items)
        page = Page(items, anchor, has_more, result)
        if not has_more:
            self._stop("no_more")
        elif anchor is None:
            self._stop("no_anchor")
        elif anchor == sent or anchor in self._sent:
            self._stop("no_progress")  # the same anchor again would fetch the same page forever
        elif self.pages >= self.max_pages:
            self._stop("max_pages")
        else:
            self.anchor = anchor
        return page

    def _stop(self, why: str) -> None:
        self.done = True
        self.stopped = why

    def page_flow(self, core: SessionCore) -> Flow[Page]:
        """Fetch and read the next page through ``core`` (signing, refresh and retries apply;
        errors scrubbed of the session's secrets)."""
        return guarded(self._page_flow(core), core.secret_values)

    def _page_flow(self, core: SessionCore) -> Flow[Page]:
        params = self.next_params()
        result = yield from core.call_flow(self.method, params, pass_error=False)
        return self.feed(result)

    def __repr__(self) -> str:
        return (f"Pager({self.method!r}, pages={self.pages}, done={self.done}, "
                f"stopped={self.stopped!r})")
