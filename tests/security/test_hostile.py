"""Trust at the edges (issue 11), on every adapter against a hostile loopback server
(tests/hostile.py):

* every failure of every public call is one of our typed errors with the original chained: a
  redirect whose Location httpx cannot parse (``javascript:``, ``data:``, garbage), a reply that
  is not HTTP, a server that closes after reading the request; during a REST call, a grant, a
  refresh and paging alike;
* bounded memory: a huge Content-Length is refused before its body is read, a 50 MB JSON (sized
  or chunked) is refused at ``max_response_bytes``, a gzip/deflate bomb is refused on its
  DECODED size without the process ever holding much more than the cap;
* a compressed reply decodes; one that does not decode says "Content-Encoding".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from okru_proto import Error, ProtocolError, TransportError, UsageError
from tests.adapters import Adapter
from tests.hostile import (
    HostileServer,
    Script,
    big_json,
    broken_gzip,
    call_at,
    close_after_request,
    gzip_bomb,
    gzipped,
    huge_length,
    raw,
    redirect,
    traced_peak,
)

APP = ("512000000001", "CBAKEY", "APP-SECRET-XYZ")
TOKEN = "tok.SECRET-ACCESS-TOKEN-123"
MIB = 1024 * 1024


def _untyped(exc: BaseException) -> bool:
    return not isinstance(exc, Error)


async def _call(adapter: Adapter, script: Script, **options: Any) -> Any:
    """One REST call against ``script``: its result, or the exception it raised."""
    with HostileServer(script, lifetime=20.0) as server:
        return await call_at(adapter, server.endpoints, *APP, TOKEN, **options)


# -- every failure is typed -------------------------------------------------------------------------

BAD_LOCATIONS = ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "http://[::1"]


@pytest.mark.anyio
@pytest.mark.network
@pytest.mark.parametrize("location", BAD_LOCATIONS)
async def test_sec_unparsable_redirect_is_typed_in_calls_grants_refresh_and_pages(
        adapter: Adapter, location: str) -> None:
    with HostileServer(redirect(location), lifetime=20.0) as server:
        module = adapter.module
        failures: list[BaseException] = []

        session = module.ServerSession(*APP, TOKEN, endpoints=server.endpoints, refresh_token="rt-SECRET")
        try:
            for action in (lambda: adapter.run(session.call, "users.getLoggedInUser"),
                           lambda: adapter.run(session.refresh),
                           lambda: adapter.collect(session.items("group.getMembers", {"uid": "1"}))):
                try:
                    await action()
                except BaseException as exc:
                    failures.append(exc)
        finally:
            await adapter.close(session)

        grant = module.CodeSession(*APP, "the-code", "https://app.example/cb", endpoints=server.endpoints)
        try:
            await adapter.enter(grant)
        except BaseException as exc:
            failures.append(exc)
        finally:
            await adapter.close(grant)

    assert len(failures) == 4, failures
    for exc in failures:
        assert isinstance(exc, Error), repr(exc)
        assert TOKEN not in str(exc) and "rt-SECRET" not in str(exc)
        if adapter.is_httpx and isinstance(exc, ProtocolError) and exc.__cause__ is not None:
            assert "Location" in str(exc)


@pytest.mark.anyio
@pytest.mark.network
@pytest.mark.parametrize("script", ["close-after-request", "not-http", "bad-header", "bad-chunk"])
async def test_sec_broken_servers_are_typed(adapter: Adapter, script: str) -> None:
    scripts = {
        "close-after-request": close_after_request(),
        "not-http": raw(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
        "bad-header": raw(b"HTTP/1.1 200 OK\r\nX-Bad\x00: v\r\nContent-Length: 2\r\n\r\n{}"),
        "bad-chunk": raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
    }
    result = await _call(adapter, scripts[script])
    assert isinstance(result, (TransportError, ProtocolError)), repr(result)
    assert result.__cause__ is not None


@pytest.mark.anyio
@pytest.mark.parametrize("adapter_name", ["httpx-sync", "httpx-asyncio", "httpx-trio"])
@pytest.mark.parametrize("kind", ["missing", "directory"])
async def test_sec_unreadable_photo_path_is_a_usage_error(adapter: Adapter, kind: str, tmp_path: Path) -> None:
    # (okru_trio's side of this is in its own suite; it lands in a parallel change.)
    path = tmp_path / "nope.jpg" if kind == "missing" else tmp_path
    session = adapter.module.ServerSession(*APP, TOKEN)
    try:
        with pytest.raises(UsageError) as caught:
            await adapter.run(session.upload_photos, path)
    finally:
        await adapter.close(session)
    assert str(path) in str(caught.value)
    if kind == "missing":  # the failed stat stays chained
        assert isinstance(caught.value.__cause__, OSError)
    else:  # measured before sending: a directory is refused by name, once (not wrapped twice)
        assert str(caught.value) == f"upload source {str(path)!r} is not a regular file"


# -- bounded memory -----------------------------------------------------------------------------------

async def _call_measured(adapter: Adapter, script: Script, **options: Any) -> tuple[Any, int]:
    return await traced_peak(lambda: _call(adapter, script, **options))


@pytest.mark.anyio
@pytest.mark.network
async def test_sec_huge_content_length_is_refused_with_bounded_memory(adapter: Adapter) -> None:
    result, peak = await _call_measured(adapter, huge_length(2_000_000_000), max_response_bytes=MIB)
    assert isinstance(result, ProtocolError), repr(result)
    assert "max_response_bytes" in str(result)
    assert peak < 8 * MIB, f"peak {peak / MIB:.1f} MiB"


@pytest.mark.anyio
@pytest.mark.network
@pytest.mark.parametrize("chunked", [False, True], ids=["sized", "chunked"])
async def test_sec_50mb_json_is_refused_at_the_default_cap(adapter: Adapter, chunked: bool) -> None:
    result = await _call(adapter, big_json(50 * MIB, chunked=chunked))
    assert isinstance(result, ProtocolError), repr(result)
    assert "max_response_bytes" in str(result)


@pytest.mark.anyio
@pytest.mark.network
async def test_sec_body_cap_is_exact(adapter: Adapter) -> None:
    size = 100_000
    fits = await _call(adapter, big_json(size, chunked=True), max_response_bytes=size)
    assert fits == {"uid": "1", "pad": "x" * (size - len('{"uid":"1","pad":""}'))}, repr(fits)
    over = await _call(adapter, big_json(size + 1, chunked=True), max_response_bytes=size)
    assert isinstance(over, ProtocolError) and "max_response_bytes" in str(over), repr(over)


@pytest.mark.anyio
@pytest.mark.network
@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_sec_decompression_bomb_is_refused_on_its_decoded_size(adapter: Adapter, coding: str) -> None:
    script = gzip_bomb(16 * MIB, coding=coding)  # ~16 KiB on the wire
    result, peak = await _call_measured(adapter, script, max_response_bytes=MIB)
    assert isinstance(result, ProtocolError), repr(result)
    assert peak < 8 * MIB, f"peak {peak / MIB:.1f} MiB"
    assert "max_response_bytes" in str(result)
    # The same reply decoding to under the cap is accepted as far as the transport goes (zeros
    # are not JSON, so the core refuses it: not the size).
    small = await _call(adapter, gzip_bomb(MIB // 2, coding=coding), max_response_bytes=MIB)
    assert isinstance(small, ProtocolError) and "max_response_bytes" not in str(small), repr(small)


@pytest.mark.anyio
@pytest.mark.network
@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate"])
async def test_sec_compressed_reply_decodes(adapter: Adapter, coding: str) -> None:
    result = await _call(adapter, gzipped(json.dumps({"uid": "42"}).encode(), coding=coding))
    assert result == {"uid": "42"}


@pytest.mark.anyio
@pytest.mark.network
async def test_sec_broken_gzip_says_content_encoding(adapter: Adapter) -> None:
    result = await _call(adapter, broken_gzip())
    assert isinstance(result, ProtocolError), repr(result)
    assert "Content-Encoding" in str(result) and result.__cause__ is not None
