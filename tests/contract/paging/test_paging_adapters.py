"""Contract: the paging helpers (docs/protocol.md §7.3) behave the same in every adapter."""

from __future__ import annotations

from typing import Any

import pytest

from okru_proto import UsageError
from okru_proto.adapter import Page
from tests.adapters import Env

pytestmark = pytest.mark.anyio

SCOPES = ("VALUABLE_ACCESS", "PHOTO_CONTENT", "GROUP_CONTENT")


def _server_session(env: Env, **options: Any) -> Any:
    issued = env.fake.issue_token(scope=SCOPES)
    return env.session("ServerSession", env.fake.app_id, env.fake.app_key, env.fake.app_secret_key,
                       issued["access_token"], refresh_token=issued["refresh_token"], **options)


async def test_pages_and_items_over_group_members(wired_env: Env) -> None:
    fake = wired_env.fake
    session = _server_session(wired_env)
    params = {"uid": fake.group_id}
    async with wired_env.adapter.entered(session):
        pages = await wired_env.adapter.collect(session.pages("group.getMembers", params, count=10))
        assert [type(p) for p in pages] == [Page] * 3
        assert [len(p.items) for p in pages] == [10, 10, 5]
        assert [p.has_more for p in pages] == [True, True, False]
        members = await wired_env.adapter.collect(session.items("group.getMembers", params, count=10,
                                                                       items="members"))
    assert [m["userId"] for m in members] == fake.groups[fake.group_id].members
    sent = [c.params for c in fake.calls("group.getMembers")[-3:]]
    assert "anchor" not in sent[0] and sent[1]["anchor"] and sent[2]["anchor"] != sent[1]["anchor"]
    assert all(s["count"] == "10" for s in sent)


async def test_items_over_the_legacy_shape(env: Env) -> None:
    session = _server_session(env)
    async with env.adapter.entered(session):
        photos = await env.adapter.collect(session.items("photos.getPhotos", count=5))
        assert len(photos) == len({p["id"] for p in photos}) == 12
        # max_pages bounds the iteration.
        first = await env.adapter.collect(session.pages("photos.getPhotos", count=5, max_pages=1))
        assert len(first) == 1 and first[0].has_more


async def test_paging_usage_errors_are_raised_at_once(env: Env) -> None:
    session = _server_session(env)
    async with env.adapter.entered(session):
        with pytest.raises(UsageError):
            session.pages("group.getMembers", count=0)
        with pytest.raises(UsageError):
            session.items("not a method")
