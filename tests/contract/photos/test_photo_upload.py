"""Contract: the photo upload helper (docs/protocol.md §7.2) behaves the same in every adapter."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from okru_proto import Photo, RetryPolicy, UploadedPhoto, UploadError, UsageError, photo_media
from okru_proto.adapter import Request, SourceRange, StreamedBody
from tests.adapters import Env

pytestmark = pytest.mark.anyio

JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(256))
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
SCOPES = ("VALUABLE_ACCESS", "PHOTO_CONTENT", "GROUP_CONTENT")


def _server_session(env: Env, **options: Any) -> Any:
    issued = env.fake.issue_token(scope=SCOPES)
    return env.session("ServerSession", env.fake.app_id, env.fake.app_key, env.fake.app_secret_key,
                       issued["access_token"], refresh_token=issued["refresh_token"], **options)


async def _upload(env: Env, session: Any, *files: Any, **kwargs: Any) -> tuple[UploadedPhoto, ...]:
    result = await env.adapter.run(functools.partial(session.upload_photos, *files, **kwargs))
    assert isinstance(result, tuple)
    return result


async def test_upload_bytes_photo_and_path_then_post(wired_env: Env, tmp_path: Path) -> None:
    fake = wired_env.fake
    path = tmp_path / "кот.png"
    path.write_bytes(PNG)
    session = _server_session(wired_env)
    async with wired_env.adapter.entered(session):
        uploaded = await _upload(wired_env, session, JPEG, Photo(PNG, "second.png"), path)
        assert [type(p) for p in uploaded] == [UploadedPhoto] * 3
        assert all(p.status == "SUCCESS" and p.assigned_photo_id for p in uploaded)
        stored = [fake.photos[p.photo_id] for p in uploaded]
        # The emulator saw each file's exact bytes under its own part, with its name.
        assert [s.data for s in stored] == [JPEG, PNG, PNG]
        assert [s.filename for s in stored] == ["pic1.jpg", "second.png", "кот.png"]
        assert all(s.committed and s.uid == fake.user_id for s in stored)
        topic = await wired_env.adapter.call(session, "mediatopic.post", type="USER",
                                             attachment={"media": [photo_media(uploaded)]})
        assert isinstance(topic, str) and topic.isdigit()
    post = fake.calls("mediatopic.post")[-1]
    assert '"id":"' + uploaded[0].token + '"' in post.params["attachment"].replace(" ", "")
    # The upload POST carried no OK credentials: the apiToken in its URL authorizes it (§7.2).
    upload = fake.calls("/uploadImage")[-1]
    assert "access_token" not in upload.params and "sig" not in upload.params


async def test_group_upload_skips_commit_and_posts_to_the_group(env: Env) -> None:
    fake = env.fake
    session = _server_session(env)
    async with env.adapter.entered(session):
        uploaded = await _upload(env, session, JPEG, gid=fake.group_id)
        assert uploaded[0].status is None and uploaded[0].assigned_photo_id is None
        assert not fake.photos[uploaded[0].photo_id].committed
        assert not fake.calls("photosV2.commit")
        await env.adapter.call(session, "mediatopic.post", type="GROUP_THEME", gid=fake.group_id,
                               attachment={"media": [photo_media(uploaded)]})
        # commit=True overrides the default for a group upload.
        committed = await _upload(env, session, PNG, gid=fake.group_id, commit=True)
        assert committed[0].status == "SUCCESS"
    assert fake.calls("photosV2.getUploadUrl")[0].params["gid"] == fake.group_id


async def test_upload_steps_get_refresh_and_retry(env: Env) -> None:
    fake = env.fake
    slept: list[float] = []
    session = _server_session(env, retry=RetryPolicy(attempts=2, random=lambda: 0.0))
    env.adapter.set_fake_sleep(session, slept)
    async with env.adapter.entered(session):
        old = session.access_token
        fake.expire_access_tokens()
        fake.inject("flood", method="photosV2.commit")
        uploaded = await _upload(env, session, JPEG)
        assert uploaded[0].status == "SUCCESS"
        assert session.access_token != old  # getUploadUrl got 102 and refreshed once
        assert len(slept) == 1  # commit was flood-blocked once and retried


async def test_upload_host_html_is_an_upload_error(env: Env) -> None:
    session = _server_session(env)
    async with env.adapter.entered(session):
        env.fake.inject("html", method="/uploadImage")
        with pytest.raises(UploadError) as caught:
            await _upload(env, session, JPEG)
        assert caught.value.step == "upload"
        assert not env.fake.calls("photosV2.commit")


async def test_upload_usage_errors_before_any_request(env: Env) -> None:
    session = _server_session(env)
    async with env.adapter.entered(session):
        before = len(env.fake.requests)
        with pytest.raises(UsageError):
            await _upload(env, session)
        with pytest.raises(UsageError):
            await _upload(env, session, b"")
        with pytest.raises(UsageError):
            await _upload(env, session, 42)
        assert len(env.fake.requests) == before


def _watch_uploads(env: Env, session: Any, before_upload: Callable[[], None]) -> list[Request]:
    """Record the upload POSTs the session base hands the adapter's ``_send`` (running
    ``before_upload`` just before each goes out); other requests pass through unrecorded."""
    seen: list[Request] = []
    send = session._send

    def note(request: Request) -> None:
        if "/uploadImage" in request.url:
            seen.append(request)
            before_upload()

    if env.adapter.blocking:
        def sync_send(request: Request) -> Any:
            note(request)
            return send(request)
        session._send = sync_send
    else:
        async def async_send(request: Request) -> Any:
            note(request)
            return await send(request)
        session._send = async_send
    return seen


async def test_a_photo_path_is_streamed_from_the_file_never_read_whole(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(JPEG * 40)
    session = _server_session(env)
    async with env.adapter.entered(session):
        seen = _watch_uploads(env, session, lambda: None)
        uploaded, _ = await _upload(env, session, path, JPEG)
        (request,) = seen
        # The adapter is handed a streamed body whose file part is the whole file by path (it
        # reads it block by block while sending); the in-memory photo stays a bytes part.
        assert isinstance(request.body, StreamedBody)
        ranges = [p for p in request.body.parts if isinstance(p, SourceRange)]
        assert [(r.source, r.offset, r.length) for r in ranges] == [(path, 0, len(JPEG) * 40)]
        assert JPEG in [p for p in request.body.parts if type(p) is bytes]
        stored = env.fake.photos[uploaded.photo_id]
        assert stored.data == JPEG * 40 and stored.filename == "big.jpg"


async def test_a_photo_file_that_shrinks_after_measuring_is_a_usage_error(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "shrinks.jpg"
    path.write_bytes(JPEG * 40)
    session = _server_session(env)
    async with env.adapter.entered(session):
        # Measured at the full size, cut to a tenth just before the POST goes out: the body
        # would be short, so the adapter stops with okru's error instead of sending it.
        seen = _watch_uploads(env, session, lambda: path.write_bytes(JPEG * 4))
        photos_before = dict(env.fake.photos)
        with pytest.raises(UsageError, match=r"upload source '.*shrinks.jpg' ended early") as caught:
            await _upload(env, session, path)
        assert len(seen) == 1
        assert env.fake.photos == photos_before  # nothing was stored from a short body
        assert "access_token" not in str(caught.value)
