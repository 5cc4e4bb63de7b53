"""Contract (issue 20 item 5): the upload host ends with exactly the file, or okru says it does
not. A source that changes during an upload (rewritten, rewritten with its modification time set
back, replaced by another file of the same size, grown, shrunk) is a UsageError and video.update
never runs; ``resume=`` with another file of the same size is refused before a byte is sent, and
the same bytes under another name resume to exactly the file. Every adapter, over loopback."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from okru_proto import ResumeState, RetryPolicy, UsageError
from okru_proto.errors import VideoUploadError
from tests.adapters import Adapter, Env

from ._video_env import (
    KB,
    data_of,
    next_tick,
    on_first_confirmed,
    served,
    updates,
    upload,
    uploads,
    video_session,
    write_old,
)

__all__ = ["served"]  # the fixture, used by name

pytestmark = pytest.mark.anyio

SIZE = 200 * KB + 5
CHUNK = 32 * KB


def _rewrite(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.seek(100 * KB)
        handle.write(b"\xff" * 10)


def _rewrite_backdated(path: Path) -> None:
    """The same size, and the modification time set back to what it was: only the
    status-change time (which no program can set) still tells."""
    before = os.stat(path)
    next_tick(path)
    _rewrite(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_mtime_ns == before.st_mtime_ns and os.stat(path).st_size == before.st_size


def _replace(path: Path) -> None:
    other = path.with_name("other.mp4")
    write_old(other, data_of(SIZE, b"other"))
    os.utime(other, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns))  # even the same mtime
    os.replace(other, path)


def _grow(path: Path) -> None:
    with open(path, "ab") as handle:
        handle.write(b"more")


def _shrink(path: Path) -> None:
    os.truncate(path, SIZE - 1)


CHANGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "rewritten": (_rewrite, "modification time changed"),
    "rewritten-backdated": (_rewrite_backdated, "status-change time changed"),
    "replaced": (_replace, "another file now has its name"),
    "grown": (_grow, f"grew from {SIZE} to {SIZE + 4} bytes"),
    "shrunk": (_shrink, f"shrank from {SIZE} to {SIZE - 1} bytes"),
}


def _nothing_finalised(served: Env) -> None:
    assert updates(served.fake) == 0
    assert not any(video.finalized for video in served.fake.videos.values())


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_a_path_that_changes_mid_upload_is_a_usage_error(adapter: Adapter, served: Env, tmp_path: Path,
                                                                change: str) -> None:
    path = tmp_path / "clip.mp4"
    write_old(path, data_of(SIZE))
    act, says = CHANGES[change]
    async with video_session(adapter, served) as session:
        with pytest.raises(UsageError) as caught:
            await upload(adapter, session, path, title="T", resumable=True, chunk_size=CHUNK,
                         progress=on_first_confirmed(lambda: act(path)))
    assert "changed during the upload" in str(caught.value) and says in str(caught.value)
    assert uploads(served.fake) == 1  # the chunk before the change, nothing after it
    _nothing_finalised(served)


async def test_a_change_during_a_multipart_upload_is_a_usage_error(adapter: Adapter, served: Env,
                                                                    tmp_path: Path) -> None:
    """One POST, no chunks: the source is measured again after it, before video.update."""
    path = tmp_path / "clip.mp4"
    write_old(path, data_of(SIZE))
    changed: list[bool] = []

    def progress(sent: int, total: int) -> None:
        if not changed:  # progress(0, size) runs just before the POST
            changed.append(True)
            _rewrite(path)

    async with video_session(adapter, served) as session:
        with pytest.raises(UsageError, match="changed during the upload"):
            await upload(adapter, session, path, title="T", progress=progress)
    assert uploads(served.fake) == 1
    _nothing_finalised(served)


async def test_an_open_file_rewritten_mid_upload_is_a_usage_error(adapter: Adapter, served: Env,
                                                                   tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    write_old(path, data_of(SIZE))
    with open(path, "rb") as handle:
        async with video_session(adapter, served) as session:
            with pytest.raises(UsageError, match="modification time changed"):
                await upload(adapter, session, handle, title="T", resumable=True, chunk_size=CHUNK,
                             progress=on_first_confirmed(lambda: _rewrite(path)))
    _nothing_finalised(served)


async def test_an_in_memory_file_that_grows_is_a_usage_error(adapter: Adapter, served: Env) -> None:
    """A file object without an OS file behind it: its size is what can be known."""
    buffer = io.BytesIO(data_of(SIZE))

    def grow() -> None:
        buffer.seek(0, os.SEEK_END)
        buffer.write(b"more")

    async with video_session(adapter, served) as session:
        with pytest.raises(UsageError, match=f"grew from {SIZE} to {SIZE + 4}"):
            await upload(adapter, session, buffer, title="T", resumable=True, chunk_size=CHUNK,
                         progress=on_first_confirmed(grow))
    _nothing_finalised(served)


async def _interrupted(adapter: Adapter, served: Env, path: Path, chunk: int) -> ResumeState:
    """Upload ``path`` until 3 chunks are confirmed, then fail (500s) until okru gives up."""
    fake = served.fake

    def progress(sent: int, total: int) -> None:
        if sent == 3 * chunk:
            for _ in range(3):
                fake.inject_video("http_500")

    async with video_session(adapter, served) as session:
        with pytest.raises(VideoUploadError) as caught:
            await upload(adapter, session, path, title="T", resumable=True, chunk_size=chunk,
                         retry=RetryPolicy(attempts=2, base=0.0, cap=0.0), progress=progress)
    state = caught.value.resume_state
    assert state is not None and state.confirmed == 3 * chunk
    return ResumeState.from_json(state.to_json())


async def test_resume_with_another_file_of_the_same_size_is_refused(adapter: Adapter, served: Env,
                                                                    tmp_path: Path) -> None:
    """Before: the host ended with the first file's head and the second's tail, as a success."""
    chunk = 160 * KB  # 480 KiB confirmed: more than the 384 KiB read whole, so it is sampled
    data = data_of(1200 * KB)
    first = tmp_path / "first.mp4"
    write_old(first, data)
    state = await _interrupted(adapter, served, first, chunk)
    # Another file, and one equal but for 4 KiB inside the confirmed bytes (a sampled block).
    other = tmp_path / "other.mp4"
    other.write_bytes(data_of(len(data), b"other"))
    edited = tmp_path / "edited.mp4"
    edited.write_bytes(data[:256 * KB] + b"\x00" * 4 * KB + data[260 * KB:])
    posted = served.fake.video_store.posted
    async with video_session(adapter, served) as session:
        for source in (other, edited):
            with pytest.raises(UsageError, match="is not the file whose first 491520 bytes were uploaded"):
                await upload(adapter, session, source, title="T", resume=state)
        # Nothing was sent for them; the same bytes under another name do resume.
        assert served.fake.video_store.posted == posted
        copy = tmp_path / "copy.mp4"
        shutil.copyfile(first, copy)  # another inode and modification time, the same bytes
        video = await upload(adapter, session, copy, title="T", resume=state)
    stored = served.fake.videos[video.video_id]
    assert stored.data == data and stored.finalized
