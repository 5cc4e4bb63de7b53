"""okru_httpx at its edges (issue 11): options shared with okru_trio, every exception typed, the
deadline wired into our own client, the body cap and decoding as units (the loopback versions
are in tests/security/test_hostile.py and tests/reliability/test_deadline.py)."""

from __future__ import annotations

import gzip
import ssl
from typing import Any

import anyio
import h11
import httpcore
import httpx
import pytest

import okru_httpx
import okru_httpx.sync
from okru_httpx._deadline import DEADLINE, Deadline, _AsyncBackend, _Backend, _Stream
from okru_httpx._response import BodyReader
from okru_proto import Error, ProtocolError, TransportError, TransportTimeout, UsageError
from okru_proto.adapter import API, Request

ARGS = (512000000001, "CBAKEY", "APP-SECRET-XYZ", "tok.SECRET-ACCESS-TOKEN-123")
MODULES = [okru_httpx, okru_httpx.sync]
REQUEST = Request("POST", "https://api.ok.ru/fb.do")


# -- options ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("mod", MODULES, ids=["async", "sync"])
def test_defaults_are_okru_trios(mod: Any) -> None:
    import inspect

    import okru_trio

    trio_defaults = {name: p.default for name, p in
                     inspect.signature(okru_trio.ServerSession._init_transport).parameters.items()}
    session = mod.ServerSession(*ARGS)
    assert session._total == mod.DEFAULT_TIMEOUT == trio_defaults["timeout"] == 60.0
    assert session._max_body == mod.DEFAULT_MAX_RESPONSE_BYTES == trio_defaults["max_response_bytes"]
    own = session.client.timeout
    assert own.connect == mod.DEFAULT_CONNECT_TIMEOUT == trio_defaults["connect_timeout"] == 10.0
    assert own.read == own.write == mod.DEFAULT_READ_TIMEOUT == trio_defaults["read_timeout"] == 30.0
    assert own.pool == 60.0


@pytest.mark.parametrize("mod", MODULES, ids=["async", "sync"])
@pytest.mark.parametrize("bad", [httpx.Timeout(5.0), (1.0, 2.0, 3.0, 4.0)])
def test_an_httpx_timeout_is_refused_with_the_new_names(mod: Any, bad: Any) -> None:
    with pytest.raises(UsageError) as caught:
        mod.ServerSession(*ARGS, timeout=bad)
    assert "connect_timeout" in str(caught.value) and "read_timeout" in str(caught.value)


@pytest.mark.parametrize("mod", MODULES, ids=["async", "sync"])
@pytest.mark.parametrize(("name", "value"), [("timeout", 0), ("timeout", -1), ("connect_timeout", "1"),
                                             ("read_timeout", True), ("timeout", float("nan")),
                                             ("max_response_bytes", -1), ("max_response_bytes", 1.5)])
def test_bad_limits_are_usage_errors(mod: Any, name: str, value: Any) -> None:
    with pytest.raises(UsageError, match=name):
        mod.ServerSession(*ARGS, **{name: value})


@pytest.mark.parametrize("mod", MODULES, ids=["async", "sync"])
def test_none_disables_a_limit(mod: Any) -> None:
    session = mod.ServerSession(*ARGS, timeout=None, connect_timeout=None, read_timeout=None)
    assert session._total is None
    assert session.client.timeout == httpx.Timeout(None)


@pytest.mark.parametrize("mod", MODULES, ids=["async", "sync"])
def test_users_client_keeps_its_timeouts_unless_overridden(mod: Any) -> None:
    client_class = httpx.AsyncClient if mod is okru_httpx else httpx.Client
    theirs = httpx.Timeout(7.0, connect=3.0)
    client = client_class(timeout=theirs)
    plain = mod.ServerSession(*ARGS, client=client, timeout=None)
    assert plain._timeout is httpx.USE_CLIENT_DEFAULT
    overridden = mod.ServerSession(*ARGS, client=client, read_timeout=2.0, timeout=None)
    assert overridden._timeout == httpx.Timeout(connect=3.0, read=2.0, write=2.0, pool=7.0)
    capped = mod.ServerSession(*ARGS, client=client, timeout=5.0)
    if mod is okru_httpx.sync:
        # No cancellation in a blocking client: each of its waits is capped at the whole call.
        assert capped._timeout == httpx.Timeout(connect=3.0, read=5.0, write=5.0, pool=5.0)
    else:
        assert capped._timeout is httpx.USE_CLIENT_DEFAULT and capped._guard == 5.0
    assert client.timeout == theirs  # never reconfigured


@pytest.mark.parametrize("mod", MODULES, ids=["async", "sync"])
def test_own_client_pools_cap_every_wait_at_the_deadline(mod: Any) -> None:
    pool = mod.ServerSession(*ARGS).client._transport._pool
    assert isinstance(pool._network_backend, _AsyncBackend if mod is okru_httpx else _Backend)


def test_cap_uses_what_is_left_of_the_deadline() -> None:
    class Inner(httpcore.NetworkStream):
        def __init__(self) -> None:
            self.timeouts: list[float | None] = []

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            self.timeouts.append(timeout)
            return b""

    inner = Inner()
    stream = _Stream(inner)
    stream.read(1, 30.0)
    assert inner.timeouts == [30.0]  # no call in progress: as given
    deadline = Deadline(2.0)
    token = DEADLINE.set(deadline)
    try:
        stream.read(1, 30.0)
        assert 0 < inner.timeouts[-1] <= 2.0 and deadline.hit  # type: ignore[operator]
        stream.read(1, 0.5)
        assert inner.timeouts[-1] == 0.5 and not deadline.hit
        deadline.at -= 10
        with pytest.raises(httpcore.ReadTimeout, match="whole-call deadline timeout=2 s"):
            stream.read(1, 30.0)
    finally:
        DEADLINE.reset(token)


# -- every exception is ours ---------------------------------------------------------------------------

RAISED = [
    httpx.InvalidURL("For absolute URLs, path must be empty or begin with '/'"),
    httpx.DecodingError("Error -3 while decompressing data"),
    httpx.LocalProtocolError("Illegal header value b'a\\x00'"),
    httpx.StreamConsumed(),
    httpx.CookieConflict("Multiple cookies exist with name=a"),
    RuntimeError("something inside httpx"),
    h11.RemoteProtocolError("illegal status line"),
    anyio.BrokenResourceError(),
    ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
    ConnectionResetError(104, "Connection reset by peer"),
    ValueError("a value httpx did not expect"),
]


@pytest.mark.parametrize("exc", RAISED, ids=lambda e: type(e).__name__)
def test_anything_the_transport_raises_is_typed_sync(exc: Exception) -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise exc

    client = httpx.Client(transport=httpx.MockTransport(boom))
    with okru_httpx.sync.ServerSession(*ARGS, client=client) as session, pytest.raises(Error) as caught:
        API(session).users.getCurrentUser()
    assert caught.value.__cause__ is exc
    assert "api.ok.ru" in str(caught.value) and ARGS[3] not in str(caught.value)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
@pytest.mark.parametrize("exc", RAISED, ids=lambda e: type(e).__name__)
async def test_anything_the_transport_raises_is_typed_async(exc: Exception) -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise exc

    client = httpx.AsyncClient(transport=httpx.MockTransport(boom))
    async with okru_httpx.ServerSession(*ARGS, client=client) as session:
        with pytest.raises(Error) as caught:
            await API(session).users.getCurrentUser()
    assert caught.value.__cause__ is exc


def test_a_redirect_to_javascript_is_a_protocol_error_naming_location() -> None:
    client = httpx.Client(transport=httpx.MockTransport(
        lambda r: httpx.Response(302, headers={"location": "javascript:alert(1)"})))
    with okru_httpx.sync.ServerSession(*ARGS, client=client) as session, pytest.raises(ProtocolError) as caught:
        API(session).users.getCurrentUser()
    assert "Location" in str(caught.value) and isinstance(caught.value.__cause__, httpx.InvalidURL)


@pytest.mark.anyio
async def test_close_failures_are_typed() -> None:
    session = okru_httpx.ServerSession(*ARGS)

    async def broken() -> None:
        raise OSError(9, "Bad file descriptor")

    session._client.aclose = broken  # type: ignore[method-assign]
    with pytest.raises(TransportError) as caught:
        await session.aclose()
    assert isinstance(caught.value.__cause__, OSError)


# -- the body reader -----------------------------------------------------------------------------------

def _read(headers: tuple[tuple[str, str], ...], chunks: list[bytes], cap: int) -> bytes:
    reader = BodyReader(headers, cap, None, REQUEST)
    for chunk in chunks:
        reader.add(chunk)
    return reader.body()


def test_body_reader_caps_plain_bodies_exactly() -> None:
    assert _read((), [b"ab", b"cd"], 4) == b"abcd"
    with pytest.raises(ProtocolError, match="max_response_bytes=3"):
        _read((), [b"ab", b"cd"], 3)
    with pytest.raises(ProtocolError, match="Content-Length: 5"):
        BodyReader((("content-length", "5"),), 4, None, REQUEST)


def test_body_reader_decodes_gzip_and_caps_the_decoded_size() -> None:
    data = gzip.compress(b"x" * 1000)
    headers = (("content-encoding", "gzip"),)
    assert _read(headers, [data[:10], data[10:]], 1000) == b"x" * 1000
    with pytest.raises(ProtocolError, match="max_response_bytes=999"):
        _read(headers, [data], 999)
    with pytest.raises(ProtocolError, match="Content-Encoding"):
        _read(headers, [b"not gzip"], 1000)


def test_body_reader_deadline_between_chunks() -> None:
    deadline = Deadline(5.0)
    reader = BodyReader((), 100, deadline, REQUEST)
    reader.add(b"a")
    reader.at -= 10
    with pytest.raises(TimeoutError):
        reader.add(b"b")


def test_a_deadline_hit_while_reading_says_whole_call(monkeypatch: pytest.MonkeyPatch) -> None:
    import okru_httpx._deadline as deadline
    import okru_httpx._response as body

    clock = [1000.0]
    # The deadline is set (and capped) in _deadline and checked between body chunks in _body.
    monkeypatch.setattr(deadline, "_monotonic", lambda: clock[0])
    monkeypatch.setattr(body, "_monotonic", lambda: clock[0])

    class Slow(httpx.SyncByteStream):
        def __iter__(self) -> Any:
            for chunk in (b"{", b'"uid"', b':"1"}'):
                clock[0] += 2.0  # each chunk comes 2 s after the last one: quick enough per read
                yield chunk

    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, stream=Slow())))
    with okru_httpx.sync.ServerSession(*ARGS, client=client, timeout=3) as session, \
            pytest.raises(TransportTimeout) as caught:
        API(session).users.getCurrentUser()
    assert "whole-call deadline timeout=3 s" in str(caught.value)
    assert isinstance(caught.value.__cause__, TimeoutError)
    clock[0] = 0.0
    with okru_httpx.sync.ServerSession(*ARGS, client=client, timeout=10) as session:
        assert API(session).users.getCurrentUser() == {"uid": "1"}


def test_fake_transport_slow_fault_honours_the_whole_call_deadline() -> None:
    from okru_httpx.testing import FakeOKTransport
    from okru_proto.testing import FakeOK

    fake = FakeOK()
    token = fake.issue_token()["access_token"]
    client = httpx.Client(transport=FakeOKTransport(fake), timeout=30.0)
    args = (fake.app_id, fake.app_key, fake.app_secret_key, token)
    with okru_httpx.sync.ServerSession(*args, client=client, timeout=2) as session:
        fake.inject("slow", seconds=5.0, method="users.getLoggedInUser")
        with pytest.raises(TransportTimeout, match="whole-call deadline timeout=2 s"):
            session.call("users.getLoggedInUser")
        fake.inject("slow", seconds=1.0, method="users.getLoggedInUser")
        assert session.call("users.getLoggedInUser") == fake.user_id


@pytest.mark.parametrize("mod", MODULES, ids=["async", "sync"])
def test_a_nul_in_a_photo_path_is_a_usage_error(mod: Any) -> None:
    session = mod.ServerSession(*ARGS)
    with pytest.raises(UsageError, match=r"cannot read upload source .bad\\x00name.jpg.: embedded null byte"):
        if mod is okru_httpx:
            anyio.run(session.upload_photos, "bad\0name.jpg")
        else:
            session.upload_photos("bad\0name.jpg")


def test_a_request_httpx_cannot_build_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"uid": "1"})))

    def refuse(*args: Any, **kwargs: Any) -> httpx.Request:
        raise httpx.InvalidURL("Invalid non-printable ASCII character in URL")

    monkeypatch.setattr(client, "build_request", refuse)
    with okru_httpx.sync.ServerSession(*ARGS, client=client) as session, pytest.raises(UsageError) as caught:
        API(session).users.getCurrentUser()
    assert "cannot build" in str(caught.value) and isinstance(caught.value.__cause__, httpx.InvalidURL)


@pytest.mark.parametrize("split", [1, 2, 7, 10_000])
def test_body_reader_gzip_members_deflate_forms_and_truncation(split: int) -> None:
    import zlib

    def chunks(data: bytes) -> list[bytes]:
        return [data[i:i + split] for i in range(0, len(data), split)]

    payload = b'{"uid":"1"}' * 50
    gz = (("content-encoding", "gzip"),)
    two_members = gzip.compress(payload[:100]) + gzip.compress(payload[100:])
    assert _read(gz, chunks(two_members), 10_000) == payload
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):  # zlib-wrapped and raw deflate
        c = zlib.compressobj(6, zlib.DEFLATED, wbits)
        data = c.compress(payload) + c.flush()
        assert _read((("content-encoding", "deflate"),), chunks(data), 10_000) == payload
        with pytest.raises(ProtocolError, match="after the end"):
            _read((("content-encoding", "deflate"),), chunks(data + b"junk"), 10_000)
    with pytest.raises(ProtocolError, match=r"Content-Encoding 'gzip': .*truncated"):
        _read(gz, chunks(gzip.compress(payload)[:-12]), 10_000)
    with pytest.raises(ProtocolError, match="max_response_bytes=549"):
        _read(gz, chunks(two_members), len(payload) - 1)
    assert _read(gz, [], 10) == b""  # an empty body with a coding: nothing to decode
