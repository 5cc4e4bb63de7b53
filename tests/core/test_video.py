"""The video upload flow against the in-process emulator: exact requests per step, Content-Range
edges, resume state, progress, errors and masking; Hypothesis over size x chunk x drop points."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okru_io import measure_source
from okru_proto import ResumeState, RetryPolicy, Secret, Token, UploadError, UsageError, video_media
from okru_proto.adapter import (
    Request,
    Response,
    SessionCore,
    StreamedBody,
    content_range,
    parse_upload_status,
    plan_blocks,
    run_sync,
    upload_video_flow,
)
from okru_proto.errors import VideoUploadError
from okru_proto.testing import FakeOK

KB = 1024
NO_WAIT = RetryPolicy(attempts=6, base=0.0, cap=0.0)


def _setup() -> tuple[FakeOK, object]:
    fake = FakeOK()
    token = fake.issue_token(scope=["VALUABLE_ACCESS", "VIDEO_CONTENT"])
    core = SessionCore(app_id=fake.app_id, app_key=fake.app_key, app_secret_key=fake.app_secret_key,
                       token=Token(access_token=Secret(token["access_token"])), clock=lambda: fake.now)
    return fake, core


def _send(fake: FakeOK):  # type: ignore[no-untyped-def]
    from okru_proto import TransportError

    def send(request: Request) -> Response:
        response, action = fake.handle_ex(request)
        if action.reset:
            raise TransportError("connection reset (emulated)")
        return response
    return send


def _upload(fake: FakeOK, core: object, data: bytes, **kw: object) -> object:
    kw.setdefault("retry", NO_WAIT)
    flow = upload_video_flow(core, data, measure=measure_source, file_name="clip.mp4", boundary="b0undary", **kw)  # type: ignore[arg-type]
    return run_sync(flow, _send(fake), lambda s: None)


def _data(n: int) -> bytes:
    return bytes((i * 7 + i // 251) % 256 for i in range(n))


def test_content_range_edges() -> None:
    assert content_range(0, 1, 1) == "bytes 0-0/1"
    assert content_range(9, 10, 10) == "bytes 9-9/10"  # a last chunk of one byte
    assert content_range(0, 10, 10) == "bytes 0-9/10"  # exactly one chunk
    for bad in ((0, 0, 0), (5, 5, 10), (0, 11, 10), (-1, 2, 10)):
        with pytest.raises(UsageError):
            content_range(*bad)


def test_zero_byte_file_is_refused_before_any_request() -> None:
    fake, core = _setup()
    with pytest.raises(UsageError, match="empty"):
        _upload(fake, core, b"")
    assert fake.requests == []


def test_exact_requests_multipart() -> None:
    fake, core = _setup()
    data = _data(20 * KB)
    video = _upload(fake, core, data, title="Title", tags=["a", "b"], privacy="FRIENDS")
    calls = [r.method for r in fake.requests]
    assert calls == ["video.getUploadUrl", "/uploadVideo", "video.update"]
    get_url = fake.requests[0].params
    assert get_url["file_name"] == "clip.mp4" and get_url["file_size"] == str(len(data))
    upload = fake.requests[1].request
    assert upload.method == "POST"
    assert upload.header("content-type") == "multipart/form-data; boundary=b0undary"
    assert isinstance(upload.body, StreamedBody) and len(upload.body) == len(upload.body.to_bytes())
    assert b'name="data"; filename="clip.mp4"' in upload.body.to_bytes()[:200]
    update = fake.requests[2].params
    assert (update["vid"], update["title"], update["tags"], update["privacy"]) == (
        video.video_id, "Title", "a,b", "FRIENDS")  # type: ignore[attr-defined]
    stored = fake.videos[video.video_id]  # type: ignore[attr-defined]
    assert stored.data == data and stored.finalized and stored.mode == "multipart"


@pytest.mark.parametrize(("size", "chunk", "ranges"), [
    (16 * KB, 16 * KB, [f"bytes 0-{16 * KB - 1}/{16 * KB}"]),  # exactly one chunk
    (16 * KB + 1, 16 * KB, [f"bytes 0-{16 * KB - 1}/{16 * KB + 1}", f"bytes {16 * KB}-{16 * KB}/{16 * KB + 1}"]),
    (40 * KB, 16 * KB, [f"bytes 0-{16 * KB - 1}/{40 * KB}", f"bytes {16 * KB}-{32 * KB - 1}/{40 * KB}",
                        f"bytes {32 * KB}-{40 * KB - 1}/{40 * KB}"]),
])
def test_exact_requests_resumable(size: int, chunk: int, ranges: list[str]) -> None:
    fake, core = _setup()
    data = _data(size)
    progress: list[tuple[int, int]] = []
    video = _upload(fake, core, data, resumable=True, chunk_size=chunk,
                    progress=lambda sent, total: progress.append((sent, total)))
    uploads = [r.request for r in fake.requests if r.method == "/uploadVideo"]
    assert [u.header("content-range") for u in uploads] == ranges
    assert all(u.method == "POST" and u.header("content-type") == "application/octet-stream" for u in uploads)
    assert fake.videos[video.video_id].data == data  # type: ignore[attr-defined]
    assert progress[0] == (0, size) and progress[-1] == (size, size)
    assert [p for p, _ in progress] == sorted(p for p, _ in progress)


def test_threshold_picks_resumable_and_false_forces_multipart() -> None:
    fake, core = _setup()
    small = _upload(fake, core, _data(20 * KB))
    assert not small.resumable  # type: ignore[attr-defined]
    big = _upload(fake, core, _data(20 * KB), resumable=True, chunk_size=8 * KB)
    assert big.resumable  # type: ignore[attr-defined]
    from okru_proto.adapter import SourceFingerprint

    with pytest.raises(UsageError, match="2 GB"):
        run_sync(upload_video_flow(core, b"x" * 10, measure=lambda q: SourceFingerprint((2 << 30) + 1),  # type: ignore[arg-type]
                                   file_name="x", boundary="b", resumable=False), _send(fake), lambda s: None)


@pytest.mark.parametrize("fmt", ["json", "text", "range", "unreadable"])
def test_faults_resume_with_every_status_format(fmt: str) -> None:
    fake, core = _setup()
    fake.video_store.status_format = fmt  # type: ignore[assignment]
    data = _data(100 * KB)
    fake.inject_video("drop", at=30 * KB + 5)
    fake.inject_video("http_500")
    fake.inject_video("lost_ack")
    video = _upload(fake, core, data, resumable=True, chunk_size=16 * KB)
    assert fake.videos[video.video_id].data == data  # type: ignore[attr-defined]
    assert fake.videos[video.video_id].finalized  # type: ignore[attr-defined]
    gets = [r for r in fake.requests if r.method == "/uploadVideo" and r.request.method == "GET"]
    assert len(gets) == 3  # one status GET per failure


def test_drop_resends_at_most_the_chunk_in_flight() -> None:
    fake, core = _setup()
    data = _data(128 * KB)
    for at in (20 * KB, 70 * KB, 100 * KB):
        fake.inject_video("drop", at=at)
    _upload(fake, core, data, resumable=True, chunk_size=16 * KB)
    sent = sum(len(r.request.body) for r in fake.requests if r.method == "/uploadVideo" and r.request.method == "POST")
    assert sent <= len(data) + 3 * 16 * KB


def test_gives_up_with_resume_state_then_resumes_across_processes() -> None:
    fake, core = _setup()
    data = _data(64 * KB)
    for _ in range(3):
        fake.inject_video("http_500")
    fake.inject_video("drop", at=20 * KB)
    policy = RetryPolicy(attempts=2, base=0.0, cap=0.0)
    with pytest.raises(UploadError) as caught:
        _upload(fake, core, data, resumable=True, chunk_size=16 * KB, retry=policy)
    error = caught.value
    assert isinstance(error, VideoUploadError) and error.step == "upload"
    state = error.resume_state
    assert isinstance(state, ResumeState) and state.size == len(data)
    # The upload URL is a credential: never in the message or the repr of the state.
    token = state.upload_url.rpartition("apiToken=")[2]
    assert token not in str(error) and token not in repr(state) and token not in repr(error)
    restored = ResumeState.from_json(state.to_json())
    assert restored == state
    with pytest.raises(UsageError, match="same file"):
        _upload(fake, core, data[:-1], resume=restored)
    before = len(fake.requests)
    video = _upload(fake, core, data, resume=restored)
    new = [r.method for r in fake.requests[before:]]
    assert "video.getUploadUrl" not in new and new[0] == "/uploadVideo"  # the status GET first
    assert fake.videos[video.video_id].data == data  # type: ignore[attr-defined]


def test_resume_state_json_is_checked() -> None:
    with pytest.raises(UsageError):
        ResumeState.from_json("{}")
    with pytest.raises(UsageError):
        ResumeState.from_json("not json")
    state = ResumeState("https://vu.example/upload?apiToken=SECRET123", "1", 10, 5)
    assert "SECRET123" not in repr(state) and json.loads(state.to_json())["confirmed"] == 5


def test_update_error_keeps_resume_state() -> None:
    fake, core = _setup()
    with pytest.raises(Exception) as caught:
        _upload(fake, core, _data(20 * KB), resumable=True, chunk_size=8 * KB, title="x" * 1001)
    state = getattr(caught.value, "resume_state", None)
    assert isinstance(state, ResumeState) and state.confirmed == state.size


def test_wrong_total_names_status_step() -> None:
    response = Response(200, (), b'{"total": 99, "last_byte": 5}')
    assert parse_upload_status(response, 100).received is None
    assert parse_upload_status(Response(200, (), b"bytes 0-9/100"), 100).received == 10
    assert parse_upload_status(Response(200, (), b"bytes */100"), 100).received == 0
    assert parse_upload_status(Response(200, (("range", "bytes=0-41"),), b""), 100).received == 42
    assert parse_upload_status(Response(200, (), b'{"uploaded": "7"}'), 100).received == 7
    assert parse_upload_status(Response(200, (), b'{"last_byte": 500}'), 100).received is None
    assert parse_upload_status(Response(200, (), b"<html>"), 100).received is None


def test_plan_blocks_bounds_every_block() -> None:
    from okru_proto.adapter import SourceRange

    body = StreamedBody((b"head", SourceRange("/nonexistent", 3, 10), b"tail"))
    plan = list(plan_blocks(body, 4))
    assert [len(p) if isinstance(p, bytes) else p.length for p in plan] == [4, 4, 4, 2, 4]
    assert len(body) == 18 and "nonexistent" not in repr(body)
    with pytest.raises(UsageError):
        body.to_bytes()


def test_video_media_and_movie_block() -> None:
    fake, core = _setup()
    video = _upload(fake, core, _data(20 * KB))
    assert video_media(video) == {"type": "movie", "list": [{"id": video.video_id}]}  # type: ignore[attr-defined]
    post = core.call_flow("mediatopic.post", {"type": "USER", "attachment": json.dumps({"media": [video_media(video)]})})  # type: ignore[attr-defined]
    assert run_sync(post, _send(fake), lambda s: None)
    bad = core.call_flow("mediatopic.post", {"type": "USER", "attachment": json.dumps({"media": [video_media("123")]})}, pass_error=False)  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="unknown video"):
        run_sync(bad, _send(fake), lambda s: None)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(16 * KB, 80 * KB), chunk=st.integers(1 * KB, 40 * KB),
       drops=st.lists(st.floats(0.0, 1.0, exclude_max=True), max_size=3),
       fmt=st.sampled_from(["json", "text", "range", "unreadable"]))
def test_property_emulator_ends_with_exactly_the_file(size: int, chunk: int, drops: list[float], fmt: str) -> None:
    fake, core = _setup()
    fake.video_store.status_format = fmt  # type: ignore[assignment]
    data = _data(size)
    for point in sorted(drops):
        fake.inject_video("drop", at=max(1, int(point * size)))
    video = _upload(fake, core, data, resumable=True, chunk_size=chunk)
    stored = fake.videos[video.video_id]  # type: ignore[attr-defined]
    assert stored.data == data and stored.received == size and stored.complete and stored.finalized
