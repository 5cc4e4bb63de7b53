"""upload_video end to end on every adapter (httpx sync, httpx asyncio, httpx trio, okru_trio)
against the emulator over loopback: a file path, a file object and bytes; faults included."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio

from okru_proto import Endpoints, RetryPolicy, UsageError
from okru_proto.testing import FakeOK
from okru_trio.testing import run_fake_server

KB = 1024
NO_WAIT = RetryPolicy(attempts=6, base=0.0, cap=0.0)


def _data(n: int) -> bytes:
    return hashlib.shake_256(str(n).encode()).digest(n)


def _fake() -> tuple[FakeOK, str]:
    fake = FakeOK()
    token = fake.issue_token(scope=["VALUABLE_ACCESS", "VIDEO_CONTENT"])
    return fake, token["access_token"]


def _faults(fake: FakeOK, size: int) -> None:
    fake.inject_video("drop", at=size // 3)
    fake.inject_video("http_500")
    fake.inject_video("lost_ack")


def _check(fake: FakeOK, video: Any, data: bytes, progress: list[tuple[int, int]]) -> None:
    stored = fake.videos[video.video_id]
    assert stored.data == data and stored.finalized and stored.title == "T"
    assert progress[-1] == (len(data), len(data))
    assert fake.video_store.faults == []  # every scripted fault fired and was survived


@pytest.fixture
def video_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = _data(200 * KB + 3)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    return path, data


@pytest.mark.parametrize("kind", ["path", "file", "bytes"])
def test_httpx_sync(video_file: tuple[Path, bytes], kind: str) -> None:
    from okru_httpx.sync import ServerSession

    path, data = video_file
    fake, token = _fake()
    _faults(fake, len(data))
    progress: list[tuple[int, int]] = []
    with run_fake_server(fake) as url, ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, token,
                                                     endpoints=Endpoints(api=url)) as session:
        with open(path, "rb") as handle:
            source: Any = {"path": path, "file": handle, "bytes": data}[kind]
            video = session.upload_video(source, title="T", resumable=True, chunk_size=32 * KB, retry=NO_WAIT,
                                         progress=lambda s, t: progress.append((s, t)))
        _check(fake, video, data, progress)
        assert fake.videos[video.video_id].file_name == ("clip.mp4" if kind != "bytes" else "video")
        # multipart, streamed too
        small = session.upload_video(path, title="T", progress=lambda s, t: progress.append((s, t)))
        assert not small.resumable and fake.videos[small.video_id].data == data
        with pytest.raises(UsageError, match="cannot await"):
            async def aprogress(s: int, t: int) -> None: ...
            session.upload_video(path, progress=aprogress)
        with pytest.raises(UsageError, match=r"not a regular file|cannot read"):
            session.upload_video(path.parent / "missing.mp4")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_httpx_async(video_file: tuple[Path, bytes], backend: str) -> None:
    from okru_httpx import ServerSession

    path, data = video_file
    fake, token = _fake()
    _faults(fake, len(data))
    progress: list[tuple[int, int]] = []

    async def aprogress(sent: int, total: int) -> None:
        await anyio.sleep(0)
        progress.append((sent, total))

    async def main(url: str) -> Any:
        async with ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, token,
                                 endpoints=Endpoints(api=url)) as session:
            return await session.upload_video(path, title="T", resumable=True, chunk_size=32 * KB,
                                              retry=NO_WAIT, progress=aprogress)

    with run_fake_server(fake) as url:
        video = anyio.run(main, url, backend=backend)
    _check(fake, video, data, progress)


def test_okru_trio(video_file: tuple[Path, bytes]) -> None:
    from okru_trio import ServerSession
    from okru_trio.testing import serve_fake

    path, data = video_file
    fake, token = _fake()
    _faults(fake, len(data))
    progress: list[tuple[int, int]] = []

    async def main() -> list[Any]:
        async with serve_fake(fake) as url, ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, token,
                                                          endpoints=Endpoints(api=url)) as session:
            out = [await session.upload_video(path, title="T", resumable=True, chunk_size=32 * KB,
                                              retry=NO_WAIT, progress=lambda s, t: progress.append((s, t)))]
            with open(path, "rb") as handle:
                out.append(await session.upload_video(handle, title="T"))
            return out

    video, multipart = trio.run(main)
    _check(fake, video, data, progress)
    assert fake.videos[multipart.video_id].data == data and not multipart.resumable


def test_loopback_server_streams_with_a_bounded_buffer(video_file: tuple[Path, bytes]) -> None:
    """The server hands the emulator blocks as they arrive: no block is larger than what one
    socket read returns (64 KiB), whatever the body size."""
    from okru_httpx.sync import ServerSession
    from okru_proto.testing import _video

    path, data = video_file
    fake, token = _fake()
    sizes: list[int] = []
    original = _video.VideoSink.write

    def spy(self: Any, block: bytes) -> bool:
        sizes.append(len(block))
        return original(self, block)

    _video.VideoSink.write = spy  # type: ignore[method-assign]
    try:
        with run_fake_server(fake) as url, ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, token,
                                                         endpoints=Endpoints(api=url)) as session:
            session.upload_video(path, title="T")
    finally:
        _video.VideoSink.write = original  # type: ignore[method-assign]
    assert sum(sizes) > len(data) and max(sizes) <= 65536 and len(sizes) > 3
    assert os.path.getsize(path) == len(data)


def test_upload_url_token_stays_out_of_logs_and_errors(video_file: tuple[Path, bytes],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from okru_httpx.sync import ServerSession
    from okru_proto.errors import VideoUploadError

    path, _ = video_file
    fake, token = _fake()
    for _ in range(4):
        fake.inject_video("http_500")
    caplog.set_level(logging.DEBUG)
    with run_fake_server(fake) as url, ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, token,
                                                     endpoints=Endpoints(api=url)) as session, \
            pytest.raises(VideoUploadError) as caught:
        session.upload_video(path, resumable=True, chunk_size=64 * KB,
                             retry=RetryPolicy(attempts=2, base=0.0, cap=0.0))
    upload_token = next(iter(fake.videos.values())).token
    assert "uploadVideo" in caplog.text  # httpx did log the requests...
    assert upload_token not in caplog.text  # ...with the token masked
    assert upload_token not in str(caught.value) and upload_token not in repr(caught.value.resume_state)
