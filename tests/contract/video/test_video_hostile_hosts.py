"""Contract (issue 20 item 2, and item 5's server claims): an upload host that never lets a
resumable upload finish makes it stop, on every adapter, with a typed error that carries the
resume state, having sent at most ``upload_byte_budget`` bytes; a host that claims bytes okru
never sent is not believed. The hosts are the emulator's upload host made hostile
(``fake.video_store.behaviour``), on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from okru_proto import ResumeState, RetryPolicy
from okru_proto.adapter import upload_byte_budget
from okru_proto.errors import VideoUploadError
from tests.adapters import Adapter, Env

from ._video_env import FIVE_NO_WAIT, KB, data_of, served, updates, upload, uploads, video_session

__all__ = ["served"]  # the fixture, used by name

pytestmark = pytest.mark.anyio

SIZE = 200 * KB + 5
CHUNK = 32 * KB


async def _give_up(adapter: Adapter, served: Env, source: object, **options: object) -> VideoUploadError:
    fake = served.fake
    async with video_session(adapter, served) as session:
        with pytest.raises(VideoUploadError) as caught:
            await upload(adapter, session, source, title="T", resumable=True, **options)
    error = caught.value
    assert error.step == "upload" and isinstance(error.resume_state, ResumeState)
    assert updates(fake) == 0  # never finalised: okru does not say it succeeded
    assert not next(iter(fake.videos.values())).finalized
    return error


async def test_a_host_that_forgets_stops_after_five_failures(adapter: Adapter, served: Env, tmp_path: Path) -> None:
    """Accepts chunk 1, answers 416 to chunk 2, then reports 0 bytes: each round is two
    failures (the 416, the status that went back); re-sending chunk 1 is not progress."""
    path = tmp_path / "clip.mp4"
    path.write_bytes(data_of(SIZE))
    fake = served.fake
    fake.video_store.behaviour = "forgetful"
    error = await _give_up(adapter, served, path, chunk_size=CHUNK)
    assert "6 failed attempts in a row" in str(error) and "went back to 0" in str(error)
    # chunk 1, chunk 2 (416), three times: 6 chunks, nothing more.
    assert fake.video_store.posted == 6 * CHUNK == uploads(fake) * CHUNK
    assert error.resume_state is not None and error.resume_state.confirmed == 0


async def test_a_host_that_keeps_a_byte_a_chunk_stops_at_the_byte_budget(adapter: Adapter, served: Env) -> None:
    """Each chunk is confirmed one byte further (always new bytes, so the failure count never
    grows): only the byte budget stops it. One chunk holds the whole file, as 8 MiB chunks do
    for a 3 MiB file."""
    data = data_of(96 * KB)
    fake = served.fake
    fake.video_store.behaviour = "byte_a_chunk"
    error = await _give_up(adapter, served, data, chunk_size=128 * KB)
    budget = upload_byte_budget(len(data), 128 * KB, FIVE_NO_WAIT.attempts)
    assert budget == 8 * len(data)
    posted = fake.video_store.posted
    assert budget - len(data) < posted <= budget  # it stopped because the next chunk would pass
    assert "is not keeping what it receives" in str(error)
    assert error.resume_state is not None and error.resume_state.confirmed == uploads(fake)


async def test_a_host_that_claims_the_whole_file_is_not_believed(adapter: Adapter, served: Env) -> None:
    """After chunk 1 the host says it holds everything: okru sent only one chunk, so the claim is
    a failed attempt, never a success (before: success with a third of the file held)."""
    data = data_of(SIZE)
    fake = served.fake
    fake.video_store.behaviour = "overclaim"
    error = await _give_up(adapter, served, data, chunk_size=CHUNK)
    assert f"claims {SIZE} bytes, okru sent only {CHUNK}" in str(error)
    assert fake.video_store.posted == 3 * CHUNK  # the claim on the reply and on the status: 2 failures a round
    assert next(iter(fake.videos.values())).received == CHUNK
    assert error.resume_state is not None and error.resume_state.confirmed == 0


async def test_an_honest_flaky_host_still_finishes(adapter: Adapter, served: Env, tmp_path: Path) -> None:
    """The bounds stop hostile hosts, not honest ones: drops, a 500 and a lost reply in one
    upload, and the host ends with exactly the file, well inside the byte budget."""
    data = data_of(SIZE)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    fake = served.fake
    for at in (10 * KB, 70 * KB, 150 * KB):
        fake.inject_video("drop", at=at)
    fake.inject_video("http_500")
    fake.inject_video("lost_ack")
    async with video_session(adapter, served) as session:
        video = await upload(adapter, session, path, title="T", resumable=True, chunk_size=CHUNK,
                             retry=RetryPolicy(attempts=5, base=0.0, cap=0.0))
    stored = fake.videos[video.video_id]
    assert stored.data == data and stored.finalized and fake.video_store.faults == []
    assert fake.video_store.posted <= SIZE + 5 * CHUNK < upload_byte_budget(SIZE, CHUNK, 5)
