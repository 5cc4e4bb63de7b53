"""video.update's documented extra fields (publish, cover_photo_id, cover_photo_upload_token,
best_thumbnail_index) reach OK as given, only when given, and bad values fail before any request."""

from __future__ import annotations

from typing import Any

import pytest

from okru_proto import Endpoints, UsageError
from okru_proto.testing import FakeOK

DATA = bytes(range(256)) * 80  # 20 KB: one multipart upload


def _fake() -> tuple[FakeOK, str]:
    fake = FakeOK()
    return fake, fake.issue_token(scope=["VALUABLE_ACCESS", "VIDEO_CONTENT"])["access_token"]


def _update_params(fake: FakeOK) -> dict[str, str]:
    calls = fake.calls("video.update")
    assert len(calls) == 1
    return {k: v for k, v in calls[0].params.items()
            if k in ("vid", "title", "publish", "cover_photo_id", "cover_photo_upload_token", "best_thumbnail_index")}


def test_the_fields_go_to_video_update_on_a_blocking_session() -> None:
    import httpx

    from okru_httpx.sync import ServerSession
    from okru_httpx.testing import FakeOKTransport

    fake, token = _fake()
    with ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, token,
                       client=httpx.Client(transport=FakeOKTransport(fake))) as session:
        video = session.upload_video(DATA, title="T", publish=True, cover_photo_id="cover1",
                                     cover_photo_upload_token="upTok", best_thumbnail_index=2)
        assert _update_params(fake) == {"vid": video.video_id, "title": "T", "publish": "true",
                                        "cover_photo_id": "cover1", "cover_photo_upload_token": "upTok",
                                        "best_thumbnail_index": "2"}
        fake.requests.clear()
        session.upload_video(DATA, title="T")
        assert set(_update_params(fake)) == {"vid", "title"}  # nothing sent that was not given


@pytest.mark.parametrize("bad", [{"publish": "yes"}, {"best_thumbnail_index": -1}, {"best_thumbnail_index": True},
                                 {"cover_photo_id": ""}, {"cover_photo_upload_token": "t"}])
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_bad_values_fail_before_any_request(bad: dict[str, Any]) -> None:
    import httpx

    from okru_httpx import ServerSession
    from okru_httpx.testing import FakeOKTransport

    fake, token = _fake()
    async with ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, token,
                             client=httpx.AsyncClient(transport=FakeOKTransport(fake)),
                             endpoints=Endpoints()) as session:
        with pytest.raises(UsageError):
            await session.upload_video(DATA, title="T", **bad)
    assert fake.calls("video.getUploadUrl") == []
