"""The resumable video flow against scripted upload hosts, pure (issue 20 items 2 and 5): it
always ends, sends at most ``upload_byte_budget`` bytes, counts a status that goes back, stalls or
claims unsent bytes as a failure (only new bytes reset the count), never believes a claim beyond
what it sent, and leaves an honest (however flaky) host with exactly the file.

The REST calls go to the emulator; the upload host is a model here, its every decision drawn by
Hypothesis. The source is bytes, measured by okru_io (no file is opened).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okru_io import measure_source
from okru_proto import ResumeState, RetryPolicy, Secret, Token, TransportError, UsageError
from okru_proto.adapter import (
    Request,
    Response,
    SessionCore,
    SourceFingerprint,
    SourceQuery,
    run_sync,
    upload_byte_budget,
    upload_video_flow,
)
from okru_proto.errors import VideoUploadError
from okru_proto.testing import FakeOK

KB = 1024
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


def _data(n: int) -> bytes:
    return hashlib.shake_256(b"bounds" + str(n).encode()).digest(n)


def _status(received: int, size: int) -> Response:
    return Response(200, (("content-type", "application/json"),),
                    f'{{"total": {size}, "last_byte": {received - 1}}}'.encode())


@dataclass
class Host:
    """An upload host whose behaviour is drawn: ``honest`` keeps what it says it keeps (it may
    drop, answer 416/500, keep part of a chunk, lose everything); otherwise it says anything."""

    draw: Any
    size: int
    honest: bool
    fake: FakeOK
    held: bytearray = field(default_factory=bytearray)
    posted: int = 0
    posts: int = 0
    max_end: int = 0
    sleeps: list[float] = field(default_factory=list)

    def post(self, request: Request) -> Response:
        self.posts += 1
        assert self.posts < 5000, "the flow did not stop"
        match = _RANGE.match(request.header("content-range") or "")
        assert match is not None
        first, last, total = (int(g) for g in match.groups())
        body = request.body.to_bytes()  # type: ignore[union-attr]
        assert total == self.size and len(body) == last - first + 1
        self.posted += len(body)
        self.max_end = max(self.max_end, last + 1)
        if not self.honest:
            kind = self.draw(st.sampled_from(["200", "bare", "308", "416", "500", "drop"]))
            if kind == "drop":
                raise TransportError("connection reset (scripted)")
            if kind == "bare":
                return Response(200, (), b"")
            claim = _status(self.draw(st.integers(0, self.size)), self.size)
            return Response(int(kind), claim.headers, claim.body)
        if self.draw(st.integers(0, 19)) == 0:
            self.held.clear()  # the host lost the upload
        if first > len(self.held):
            return Response(416, (("content-range", f"bytes */{self.size}"),), b"")
        new = body[len(self.held) - first:]
        keep = self.draw(st.one_of(st.just(len(new)), st.integers(0, len(new))))
        self.held += new[:keep]
        kind = self.draw(st.sampled_from(["report", "bare", "416", "500", "drop"]))
        if kind == "bare" and len(self.held) != last + 1:
            kind = "report"  # an honest bare 2xx means the chunk is kept
        if kind == "drop":
            raise TransportError("connection reset (scripted)")
        if kind in ("416", "500"):
            return Response(int(kind), (), b"")
        return Response(200, (), b"") if kind == "bare" else _status(len(self.held), self.size)

    def get(self) -> Response:
        kind = self.draw(st.sampled_from(["report", "unreadable", "500"]))
        if kind == "500":
            return Response(500, (), b"")
        if kind == "unreadable":
            return Response(200, (("content-type", "text/html"),), b"<html>uploading</html>")
        return _status(len(self.held) if self.honest else self.draw(st.integers(0, self.size)), self.size)


def _setup() -> tuple[FakeOK, SessionCore]:
    fake = FakeOK()
    token = fake.issue_token(scope=["VALUABLE_ACCESS", "VIDEO_CONTENT"])
    core = SessionCore(app_id=fake.app_id, app_key=fake.app_key, app_secret_key=fake.app_secret_key,
                       token=Token(access_token=Secret(token["access_token"])), clock=lambda: fake.now)
    return fake, core


def _run(fake: FakeOK, core: SessionCore, host: Host | None, data: bytes, measure: Any = measure_source,
         **options: Any) -> Any:
    def send(request: Request) -> Response:
        if "/uploadVideo" in request.url and host is not None:
            return host.post(request) if request.method == "POST" else host.get()
        if host is not None:
            for video in fake.videos.values():
                video.complete = True  # the model is the upload host: the emulator only runs video.update
        response, action = fake.handle_ex(request)
        if action.reset:
            raise TransportError("connection reset (emulated)")
        return response

    flow = upload_video_flow(core, data, measure=measure, file_name="clip.mp4", boundary="b", resumable=True,
                             **options)
    return run_sync(flow, send, host.sleeps.append if host is not None else (lambda s: None))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(draws=st.data(), size=st.integers(16 * KB, 48 * KB), chunk=st.integers(2 * KB, 20 * KB),
       attempts=st.integers(0, 6), honest=st.booleans())
def test_property_any_host_the_flow_ends_within_the_budget(draws: st.DataObject, size: int, chunk: int,
                                                           attempts: int, honest: bool) -> None:
    fake, core = _setup()
    data = _data(size)
    host = Host(draws.draw, size, honest, fake)
    seen: list[tuple[int, int]] = []
    try:
        video = _run(fake, core, host, data, chunk_size=chunk, retry=RetryPolicy(attempts, base=0.0, cap=0.0),
                     checkpoint=lambda state: seen.append((state.confirmed, host.max_end)))
    except VideoUploadError as exc:
        assert exc.step == "upload" and isinstance(exc.resume_state, ResumeState)
        assert exc.resume_state.confirmed <= host.max_end
        video = None
    assert host.posted <= upload_byte_budget(size, chunk, attempts)
    # Never a claim beyond what was sent: every state handed out is within it.
    assert all(confirmed <= sent_to for confirmed, sent_to in seen)
    if video is not None:
        assert host.max_end == size and seen[-1][0] == size
        if honest:
            assert bytes(host.held) == data  # the host holds exactly the file


def _policy(attempts: int = 5) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base=1.0, cap=30.0, random=lambda: 0.0)


class Scripted:
    """A host answering from a list: each item a Response, or an exception to raise."""

    def __init__(self, size: int, posts: list[Any], gets: list[Any]) -> None:
        self.size, self.posts, self.gets = size, list(posts), list(gets)
        self.sent: list[tuple[int, int]] = []
        self.sleeps: list[float] = []

    def post(self, request: Request) -> Response:
        match = _RANGE.match(request.header("content-range") or "")
        assert match is not None
        self.sent.append((int(match.group(1)), int(match.group(2)) + 1))
        return self._next(self.posts)

    def get(self) -> Response:
        return self._next(self.gets)

    @staticmethod
    def _next(items: list[Any]) -> Response:
        item = items.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[no-any-return]


def test_a_forgetful_host_costs_two_failures_a_round_and_repeats_are_no_progress() -> None:
    fake, core = _setup()
    data = _data(40 * KB)
    chunk = 8 * KB
    accept, refuse, forgot = _status(chunk, len(data)), Response(416, (), b""), _status(0, len(data))
    host = Scripted(len(data), [accept, refuse] * 3, [forgot] * 3)
    with pytest.raises(VideoUploadError, match="6 failed attempts in a row") as caught:
        _run(fake, core, host, data, chunk_size=chunk, retry=_policy())  # type: ignore[arg-type]
    assert host.sent == [(0, chunk), (chunk, 2 * chunk)] * 3
    # One backoff a round, grown by the failures in a row (the re-sent chunk 1 does not reset them):
    # delay(0), delay(2), delay(4) of base 1 s, without jitter.
    assert host.sleeps == [0.5, 2.0, 8.0]
    assert caught.value.resume_state is not None and caught.value.resume_state.confirmed == 0
    assert [r.method for r in fake.requests].count("video.update") == 0


def test_a_chunk_reply_that_does_not_advance_is_a_failure() -> None:
    fake, core = _setup()
    data = _data(20 * KB)
    stuck = _status(0, len(data))
    host = Scripted(len(data), [stuck] * 3, [stuck] * 3)
    with pytest.raises(VideoUploadError, match="did not advance past 0 bytes"):
        _run(fake, core, host, data, chunk_size=8 * KB, retry=_policy(2))  # type: ignore[arg-type]
    assert len(host.sent) == 3  # the first try and 2 retries


def test_a_claim_beyond_what_was_sent_is_never_believed() -> None:
    fake, core = _setup()
    data = _data(30 * KB)
    chunk = 8 * KB
    whole = _status(len(data), len(data))
    host = Scripted(len(data), [whole] * 2, [whole] * 2)
    with pytest.raises(VideoUploadError, match=f"claims {len(data)} bytes, okru sent only {chunk}"):
        _run(fake, core, host, data, chunk_size=chunk, retry=_policy(3))  # type: ignore[arg-type]
    assert host.sent == [(0, chunk)] * 2
    assert [r.method for r in fake.requests].count("video.update") == 0


def test_a_regression_costs_a_failure_and_catching_up_does_not_reset_the_count() -> None:
    data = _data(32 * KB)
    chunk = 8 * KB
    ok = [_status(n * chunk, len(data)) for n in range(1, 5)]
    # 2 chunks, a 500 and a status at 0 (2 failures), chunks 1-2 again (caught up: no reset), a
    # 500 on chunk 3 (failure 3), then the rest: 3 attempts are enough, 2 are not.
    posts = [ok[0], ok[1], Response(500, (), b""), ok[0], ok[1], Response(500, (), b""), ok[2], ok[3]]
    gets = [_status(0, len(data)), _status(2 * chunk, len(data))]
    fake, core = _setup()
    host = Scripted(len(data), posts, gets)
    with pytest.raises(VideoUploadError, match="3 failed attempts in a row"):
        _run(fake, core, host, data, chunk_size=chunk, retry=_policy(2))  # type: ignore[arg-type]
    fake, core = _setup()
    host = Scripted(len(data), posts, gets)
    video = _run(fake, core, host, data, chunk_size=chunk, retry=_policy(3))  # type: ignore[arg-type]
    assert video.size == len(data) and host.posts == [] and host.gets == []
    assert host.sent == [(0, chunk), (chunk, 2 * chunk), (2 * chunk, 3 * chunk), (0, chunk), (chunk, 2 * chunk),
                         (2 * chunk, 3 * chunk), (2 * chunk, 3 * chunk), (3 * chunk, 4 * chunk)]


def test_resume_trusts_the_host_up_to_one_chunk_past_the_saved_point() -> None:
    """The earlier process may have had one chunk in flight when it stopped: a status up to its
    end is believed, one byte more is a failure."""
    data = _data(40 * KB)
    chunk = 8 * KB
    sample = measure_source(SourceQuery(data, _sample(data, 2 * chunk))).sample
    for reported, believed in ((3 * chunk, True), (3 * chunk + 1, False)):
        fake, core = _setup()
        url = _upload_url(fake, core, len(data))
        state = ResumeState(url, next(iter(fake.videos)), len(data), 2 * chunk, chunk, "clip.mp4", sample)
        host = Scripted(len(data), [Response(500, (), b"")] * 3, [_status(reported, len(data))] * 3)
        with pytest.raises(VideoUploadError):
            _run(fake, core, host, data, resume=state, retry=_policy(1))  # type: ignore[arg-type]
        # Believed: the 500 is the only failure before the status is asked again; not believed:
        # the claim was failure 1, so the 500 ends it.
        assert host.sent == ([(3 * chunk, 4 * chunk)] * 2 if believed else [(2 * chunk, 3 * chunk)])


def _sample(data: Any, confirmed: int) -> tuple[Any, ...]:
    from okru_proto.adapter import sample_ranges

    return sample_ranges(data, confirmed)


def _upload_url(fake: FakeOK, core: SessionCore, size: int) -> str:
    reply = run_sync(core.call_flow("video.getUploadUrl", {"file_name": "clip.mp4", "file_size": size}),
                     fake.handle, lambda s: None)
    return str(reply["upload_url"])


# -- the source: measured before every chunk, and what resume= checks ------------------------------

class ChangingMeasure:
    """okru_io's measure, but from measure ``at`` on, the source looks modified."""

    def __init__(self, at: int) -> None:
        self.at, self.calls = at, 0

    def __call__(self, query: SourceQuery) -> SourceFingerprint:
        self.calls += 1
        got = measure_source(query)
        if self.calls >= self.at:
            return SourceFingerprint(got.size, modified_ns=1, sample=got.sample, name="'clip.mp4'")
        return got


@pytest.mark.parametrize("at", [2, 3, 4, 5])
def test_a_changed_measure_stops_the_upload_before_the_next_request(at: int) -> None:
    fake, core = _setup()
    data = _data(24 * KB)
    measure = ChangingMeasure(at)
    with pytest.raises(UsageError, match=r"'clip\.mp4' changed during the upload"):
        _run(fake, core, None, data, measure=measure, chunk_size=8 * KB)
    posts = [r for r in fake.requests if r.method == "/uploadVideo"]
    # Measures: 1 first, then one before each of the 3 chunks, then one at the end.
    assert len(posts) == at - 2
    assert [r.method for r in fake.requests].count("video.update") == 0


def test_the_blocking_driver_refuses_an_async_measure_and_the_async_one_awaits_it() -> None:
    import anyio

    from okru_proto.adapter import run_async

    data = _data(20 * KB)

    async def ameasure(query: SourceQuery) -> SourceFingerprint:
        await anyio.sleep(0)
        return measure_source(query)

    fake, core = _setup()
    with pytest.raises(UsageError, match="a source measure returned an awaitable"):
        _run(fake, core, None, data, measure=ameasure)

    async def send(request: Request) -> Response:
        return fake.handle(request)

    async def sleep(seconds: float) -> None: ...

    fake, core = _setup()
    flow = upload_video_flow(core, data, measure=ameasure, file_name="x", boundary="b", resumable=True,
                             chunk_size=8 * KB)
    video = anyio.run(run_async, flow, send, sleep)
    assert fake.videos[video.video_id].data == data


def test_resume_checks_the_sample_and_tampered_states_are_refused() -> None:
    fake, core = _setup()
    data = _data(600 * KB)
    chunk = 64 * KB
    fake.inject_video("drop", at=7 * chunk + 5)
    with pytest.raises(VideoUploadError) as caught:
        _run(fake, core, None, data, chunk_size=chunk, retry=RetryPolicy(attempts=0, base=0.0))
    state = caught.value.resume_state
    assert state is not None and state.confirmed == 7 * chunk and len(state.sample) == 64
    text = state.to_json()
    # The file's sample is what resume compares: one byte changed in a sampled block, refused.
    edited = bytearray(data)
    edited[_sample(data, state.confirmed)[3].offset] ^= 1
    for source, tampered in ((bytes(edited), state), (data, _with(state, confirmed=state.confirmed - 1)),
                             (data, _with(state, sample="0" * 64))):
        before = len(fake.requests)
        with pytest.raises(UsageError, match="is not the file whose first"):
            _run(fake, core, None, source, resume=tampered)
        assert len(fake.requests) == before  # refused before any request
    for bad in (text.replace('"version": 2', '"version": 1'), text.replace(state.sample, "xyz"),
                text.replace(f'"sample": "{state.sample}"', '"sample": 5'), text.replace(', "sample"', ', "x"')):
        with pytest.raises(UsageError):
            ResumeState.from_json(bad)
    video = _run(fake, core, None, data, resume=ResumeState.from_json(text))
    assert fake.videos[video.video_id].data == data


def _with(state: ResumeState, **changes: Any) -> ResumeState:
    import dataclasses

    return dataclasses.replace(state, **changes)


def test_a_state_without_a_sample_cannot_resume_sent_bytes() -> None:
    fake, core = _setup()
    data = _data(40 * KB)
    url = _upload_url(fake, core, len(data))
    with pytest.raises(UsageError, match="records no sample"):
        _run(fake, core, None, data, resume=ResumeState(url, next(iter(fake.videos)), len(data), 8 * KB))
    # Nothing confirmed: nothing to mix, so no sample is needed.
    video = _run(fake, core, None, data, resume=ResumeState(url, next(iter(fake.videos)), len(data), 0))
    assert fake.videos[video.video_id].data == data


@given(confirmed=st.integers(0, 64 << 30))
def test_property_the_sample_is_bounded_inside_and_stable(confirmed: int) -> None:
    ranges = _sample(b"", 0) if confirmed == 0 else _sample("/never/opened.mp4", confirmed)
    if confirmed <= 384 * KB:
        assert [(r.offset, r.length) for r in ranges] == ([(0, confirmed)] if confirmed else [])
        return
    assert sum(r.length for r in ranges) <= 384 * KB
    assert all(r.offset >= 0 and r.offset + r.length <= confirmed for r in ranges)
    assert ranges[0].offset == 0 and ranges[-1].offset + ranges[-1].length == confirmed
    spots = [(r.offset, r.length) for r in ranges]
    assert spots == sorted(set(spots))
    # The blocks between the edges of a later sample that would fit in this one are blocks of this
    # one: as an upload goes on, it reads again what it read before (cached), not new places.
    later = _sample("/never/opened.mp4", confirmed * 2)
    middle = {r.offset for r in ranges[1:-1]}
    assert {r.offset for r in later[1:-1] if r.offset < confirmed - 64 * KB - 4 * KB} <= middle


def test_fingerprint_changes_are_named() -> None:
    base = SourceFingerprint(10, 1, 2, 3, 4)
    assert base.change_from(base) is None and SourceFingerprint(10, 1, 2, 3, 4, sample="x").change_from(base) is None
    assert base.change_from(SourceFingerprint(9, 1, 2, 3, 4)) == "it grew from 9 to 10 bytes"
    assert SourceFingerprint(10, 1, 2, 9, 4).change_from(base) == "another file now has its name"
    assert "modification time" in str(SourceFingerprint(10, 5, 2, 3, 4).change_from(base))
    assert "status-change time" in str(SourceFingerprint(10, 1, 5, 3, 4).change_from(base))
