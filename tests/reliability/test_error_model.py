"""One error model on every adapter (issue 20 item 14), against a hostile loopback server.

* A ``Content-Length`` over ``max_response_bytes`` is refused with ``ProtocolError`` before a
  byte of the body is read, even when the body never comes (okru_trio used to wait out the read
  timeout and raise ``TransportTimeout``).
* A reply that is not valid HTTP/1.1 is a ``ProtocolError`` (not retryable: an opted-in
  ``RetryPolicy`` sends the request once), the server closing before the reply is complete a
  ``TransportError`` (retryable: the policy sends it again), on httpx and okru_trio alike.
* Every failure that may come after the request was written says "may have reached the
  server" (docs/tokens.md); a refused connect does not.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from okru_proto import Endpoints, ProtocolError, RetryPolicy, TransportError, TransportTimeout
from tests.adapters import Adapter
from tests.hostile import JSON_HEAD, Conn, HostileServer, Script, call_at, raw

APP = ("512000000001", "CBAKEY", "APP-SECRET-XYZ")
TOKEN = "tok.SECRET-ACCESS-TOKEN-123"
MAY = "may have reached the server"


async def _served(adapter: Adapter, script: Script, **options: Any) -> tuple[Any, int]:
    """The call's result (or error) and how many requests reached the server."""
    with HostileServer(script, lifetime=60.0) as server:
        result = await call_at(adapter, server.endpoints, *APP, TOKEN, **options)
        return result, len(server.heads)


def head_then_stall(head: bytes) -> Script:
    def script(conn: Conn) -> None:
        if conn.send(head):
            while conn.wait(0.05):
                pass
    return script


@pytest.mark.anyio
@pytest.mark.network
async def test_rel_a_huge_content_length_is_refused_before_the_body(adapter: Adapter) -> None:
    # The head promises 2 GB and then nothing comes: only a refusal on the head ends this call
    # before the 30 s read timeout.
    script = head_then_stall(JSON_HEAD + b"Content-Length: 2000000000\r\n\r\n")
    result, _ = await _served(adapter, script, read_timeout=30, timeout=60, max_response_bytes=1 << 20)
    assert type(result) is ProtocolError, repr(result)
    assert "max_response_bytes=1048576 (Content-Length: 2000000000)" in str(result)
    assert not result.retryable


INVALID = {
    "not-http": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "bad-status": b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\n{}",
    "nul-in-header": b"HTTP/1.1 200 OK\r\nX-Bad\x00: v\r\nContent-Length: 2\r\n\r\n{}",
    "bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "two-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
}


@pytest.mark.anyio
@pytest.mark.network
@pytest.mark.parametrize("case", sorted(INVALID))
async def test_rel_invalid_http_is_a_protocol_error_and_is_not_retried(adapter: Adapter, case: str) -> None:
    retry = RetryPolicy(attempts=3, base=0.0, cap=0.0)
    result, requests = await _served(adapter, raw(INVALID[case]), retry=retry)
    assert type(result) is ProtocolError, repr(result)
    assert "not valid HTTP/1.1" in str(result) and MAY in str(result), str(result)
    assert result.__cause__ is not None
    assert requests == 1  # a ProtocolError is not retryable: the policy did not send it again


CLOSED = {
    "close-after-request": b"",
    "eof-in-head": b"HTTP/1.1 200 OK\r\nContent-Ty",
    "truncated-body": JSON_HEAD + b"Content-Length: 100\r\n\r\n{\"uid\":",
    "truncated-chunked": JSON_HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"uid",
}


@pytest.mark.anyio
@pytest.mark.network
@pytest.mark.parametrize("case", sorted(CLOSED))
async def test_rel_a_close_mid_reply_is_a_transport_error_and_is_retried(adapter: Adapter, case: str) -> None:
    result, requests = await _served(adapter, raw(CLOSED[case]))
    assert type(result) is TransportError, repr(result)
    assert MAY in str(result), str(result)
    assert result.retryable
    retried, requests = await _served(adapter, raw(CLOSED[case]), retry=RetryPolicy(attempts=2, base=0.0, cap=0.0))
    assert type(retried) is TransportError, repr(retried)
    assert requests == 3  # the first attempt and two retries


@pytest.mark.anyio
@pytest.mark.network
async def test_rel_a_read_timeout_says_the_request_may_have_run(adapter: Adapter) -> None:
    result, requests = await _served(adapter, head_then_stall(b""), read_timeout=0.3, timeout=30)
    assert isinstance(result, TransportTimeout), repr(result)
    assert "read timeout" in str(result) and MAY in str(result), str(result)
    assert requests == 1


@pytest.mark.anyio
@pytest.mark.network
async def test_rel_a_whole_call_deadline_after_the_request_says_so(adapter: Adapter) -> None:
    result, _ = await _served(adapter, head_then_stall(JSON_HEAD + b"Content-Length: 10\r\n\r\n{"),
                              read_timeout=30, timeout=0.5)
    assert isinstance(result, TransportTimeout), repr(result)
    assert MAY in str(result), str(result)


@pytest.mark.anyio
@pytest.mark.network
async def test_rel_a_refused_connect_does_not_say_it_may_have_run(adapter: Adapter) -> None:
    with socket.socket() as probe:  # a port nobody listens on: bound, never listening
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
        result = await call_at(adapter, Endpoints(api=url, connect=url), *APP, TOKEN)
    assert type(result) is TransportError, repr(result)
    assert MAY not in str(result), str(result)
