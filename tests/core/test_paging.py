"""The Pager (docs/protocol.md §7.3): request parameters, both reply shapes, every stop rule, fuzzed replies."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okru_proto import Error, ProtocolError, Secret, Token, UsageError
from okru_proto.adapter import DEFAULT_MAX_PAGES, Page, Pager, SessionCore, run_sync
from okru_proto.testing import FakeOK


def _run(pager: Pager, replies: list[Any]) -> tuple[list[Page], list[dict[str, object]]]:
    pages: list[Page] = []
    sent: list[dict[str, object]] = []
    for reply in replies:
        if pager.done:
            break
        sent.append(pager.next_params())
        pages.append(pager.feed(reply))
    return pages, sent


def test_params_of_each_request() -> None:
    pager = Pager("group.getMembers", {"uid": "5", "anchor": "start"}, count=3, direction="FORWARD")
    assert pager.next_params() == {"uid": "5", "count": 3, "direction": "FORWARD", "anchor": "start"}
    pager.feed({"members": [1, 2, 3], "anchor": "A1", "has_more": True})
    assert pager.next_params()["anchor"] == "A1"
    plain = Pager("group.getMembers", {"uid": "5"})
    assert plain.next_params() == {"uid": "5"}  # nothing added that was not asked for
    custom = Pager("photos.getAlbums", anchor_param="pagingAnchor")
    custom.feed({"albums": [1], "pagingAnchor": "P", "hasMore": True})
    assert custom.next_params() == {"pagingAnchor": "P"}


def test_new_shape_until_has_more_false() -> None:
    pager = Pager("group.getMembers", {"uid": "5"}, count=2)
    pages, sent = _run(pager, [
        {"members": [1, 2], "anchor": "a", "has_more": True},
        {"members": [3, 4], "anchor": "b", "has_more": True, "totalCount": 5},
        {"members": [5], "anchor": "c", "has_more": False},
        {"members": ["never fetched"]},
    ])
    assert [p.items for p in pages] == [(1, 2), (3, 4), (5,)]
    assert pages[1].raw["totalCount"] == 5
    assert [s.get("anchor") for s in sent] == [None, "a", "b"]
    assert pager.done and pager.stopped == "no_more" and pager.pages == 3
    with pytest.raises(UsageError):
        pager.next_params()
    with pytest.raises(UsageError):
        pager.feed({})


def test_legacy_shapes() -> None:
    # photos.getAlbums: hasMore + pagingAnchor; photos.getPhotos: hasMore + anchor (YANDEX 2014).
    pages, sent = _run(Pager("photos.getAlbums"), [
        {"hasMore": True, "pagingAnchor": "LTEz", "albums": [{"aid": "1"}]},
        {"hasMore": False, "pagingAnchor": "LTE0", "albums": [{"aid": "2"}]},
    ])
    assert [p.items[0]["aid"] for p in pages] == ["1", "2"] and sent[1]["anchor"] == "LTEz"
    pages, _ = _run(Pager("photos.getPhotos"), [
        {"hasMore": "true", "anchor": "x", "photos": [1]},
        {"hasMore": "false", "anchor": "y", "photos": [2]},
    ])
    assert len(pages) == 2 and not pages[1].has_more


def test_stop_rules() -> None:
    no_anchor = Pager("group.getMembers")
    _run(no_anchor, [{"members": [1], "has_more": True}, {"members": [2]}])
    assert no_anchor.pages == 1 and no_anchor.stopped == "no_anchor"

    same = Pager("group.getMembers")
    pages, _ = _run(same, [{"members": [1], "anchor": "a", "has_more": True},
                           {"members": [2], "anchor": "a", "has_more": True},
                           {"members": [3], "anchor": "z", "has_more": True}])
    assert len(pages) == 2 and same.stopped == "no_progress"  # the repeated page is still returned

    cycle = Pager("group.getMembers")
    _run(cycle, [{"members": [1], "anchor": "a", "has_more": True},
                 {"members": [2], "anchor": "b", "has_more": True},
                 {"members": [3], "anchor": "a", "has_more": True},
                 {"members": [4], "anchor": "c", "has_more": True}])
    assert cycle.pages == 3 and cycle.stopped == "no_progress"

    bounded = Pager("group.getMembers", max_pages=2)
    _run(bounded, [{"members": [i], "anchor": str(i), "has_more": True} for i in range(5)])
    assert bounded.pages == 2 and bounded.stopped == "max_pages"

    # No has_more at all (photos.getPhotoLikes {"anchor", "users"}): continue while items come.
    likes = Pager("photos.getPhotoLikes")
    pages, _ = _run(likes, [{"anchor": "a", "users": [1]}, {"anchor": "b", "users": []}, {"users": [9]}])
    assert [p.has_more for p in pages] == [True, False] and likes.stopped == "no_more"

    bare = Pager("friends.get")
    pages, _ = _run(bare, [["1", "2"], ["never"]])
    assert pages[0].items == ("1", "2") and bare.stopped == "no_more"


def test_items_field() -> None:
    assert Pager("a.b", items="members").feed({"members": [1], "other": [2]}).items == (1,)
    assert Pager("a.b", items="members").feed({"has_more": False}).items == ()  # OK omits empty lists
    assert Pager("a.b").feed({"has_more": False, "anchor": "x"}).items == ()
    with pytest.raises(UsageError, match="items="):
        Pager("a.b").feed({"members": [1], "other": [2]})
    with pytest.raises(ProtocolError):
        Pager("a.b", items="members").feed({"members": {"not": "a list"}})
    for broken in ("text", None, 3, {"anchor": {"x": 1}, "has_more": True}):
        pager = Pager("a.b")
        with pytest.raises(ProtocolError):
            pager.feed(broken)
        assert pager.done  # a broken reply ends the iteration


@pytest.mark.parametrize("kwargs", [
    {"count": 0}, {"count": "10"}, {"count": True}, {"direction": ""}, {"items": ""},
    {"max_pages": 0}, {"max_pages": 1.5}, {"anchor_param": ""},
])
def test_usage_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        Pager("group.getMembers", **kwargs)


def test_bad_method_and_params() -> None:
    with pytest.raises(UsageError):
        Pager("getMembers")
    with pytest.raises(UsageError):
        Pager("group.getMembers", [("uid", 1)])  # type: ignore[arg-type]


# -- Hypothesis: any sequence of replies ends within the bound, with pages or our errors only -----

scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=4)
anchors = st.none() | st.sampled_from(["", "a", "b", "c", 7]) | st.text(max_size=3) | st.lists(st.integers(), max_size=1)
page_objects = st.fixed_dictionaries(
    {},
    optional={
        "anchor": anchors,
        "pagingAnchor": anchors,
        "has_more": scalars,
        "hasMore": scalars,
        "members": st.lists(scalars, max_size=3) | scalars,
        "totalCount": scalars,
    },
)
page_replies = st.one_of(page_objects, st.lists(scalars, max_size=3), scalars,
                         st.dictionaries(st.text(max_size=4), scalars | st.lists(scalars, max_size=2), max_size=3))


@given(st.lists(page_replies, min_size=1, max_size=40), st.integers(1, 30), st.none() | st.just("members"))
def test_arbitrary_pages_end_within_the_bound(replies: list[Any], max_pages: int, items: str | None) -> None:
    pager = Pager("group.getMembers", {"uid": "1"}, count=10, items=items, max_pages=max_pages)
    fed = 0
    try:
        for reply in replies:
            if pager.done:
                break
            params = pager.next_params()
            assert params["count"] == 10 and params["uid"] == "1"
            page = pager.feed(reply)
            fed += 1
            assert isinstance(page.items, tuple) and isinstance(page.has_more, bool)
            assert page.anchor is None or isinstance(page.anchor, str)
    except Error:
        assert pager.pages == fed + 1
        return
    assert pager.pages == fed <= max_pages
    assert pager.done or fed == len(replies)


@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=50))
def test_an_endless_server_is_cut_off(anchor_cycle: list[str]) -> None:
    """A server that always says has_more: the pager stops at a repeated anchor or the bound."""
    pager = Pager("group.getMembers")
    for i in range(DEFAULT_MAX_PAGES + 5):
        if pager.done:
            break
        pager.feed({"members": [i], "anchor": anchor_cycle[i % len(anchor_cycle)], "has_more": True})
    assert pager.done and pager.pages <= 5


# -- against the emulator ---------------------------------------------------------------------

def test_page_flow_against_the_emulator() -> None:
    fake = FakeOK()
    issued = fake.issue_token()
    core = SessionCore(app_id=fake.app_id, app_key=fake.app_key, app_secret_key=fake.app_secret_key,
                       token=Token(access_token=Secret(issued["access_token"])), clock=lambda: fake.now)
    for direction in (None, "FORWARD"):
        pager = Pager("group.getMembers", {"uid": fake.group_id}, count=10, direction=direction)
        members: list[Any] = []
        while not pager.done:
            members += run_sync(pager.page_flow(core), fake.handle, lambda _: None).items
        assert [m["userId"] for m in members] == fake.groups[fake.group_id].members
        assert pager.pages == 3
    legacy = Pager("photos.getPhotos", count=5)
    photos: list[Any] = []
    while not legacy.done:
        photos += run_sync(legacy.page_flow(core), fake.handle, lambda _: None).items
    assert len({p["id"] for p in photos}) == 12
