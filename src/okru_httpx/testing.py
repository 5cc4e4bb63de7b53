"""``FakeOKTransport``: serve an :class:`okru_proto.testing.FakeOK` to httpx clients in-process.

    fake = FakeOK()
    client = httpx.Client(transport=FakeOKTransport(fake), base_url="https://api.ok.ru")

Works for ``httpx.Client`` and ``httpx.AsyncClient`` alike. Transport-level faults of the
emulator become httpx errors, with no real waiting: "reset" raises
:class:`httpx.RemoteProtocolError`; "slow" raises :class:`httpx.ReadTimeout` when its delay
exceeds the request's read timeout or what is left of the session's whole-call deadline
(``timeout=``, reported as that) and otherwise answers at once; "truncated" returns the body
cut in half (the loopback server in ``okru_trio.testing`` cuts below Content-Length instead).
"""

from __future__ import annotations

import time

import httpx

from okru_proto import UsageError
from okru_proto.adapter import Request, Response
from okru_proto.testing import Action, FakeOK

from ._deadline import DEADLINE

__all__ = ["FakeOKTransport"]


class FakeOKTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An httpx transport (sync and async) answering every request with ``fake``."""

    def __init__(self, fake: FakeOK | None = None) -> None:
        self.fake = fake if fake is not None else FakeOK()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._respond(request, request.read())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self._respond(request, await request.aread())

    def _respond(self, request: httpx.Request, body: bytes) -> httpx.Response:
        headers = tuple(
            (name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in request.headers.raw
        )
        try:
            fake_request = Request(request.method, str(request.url), headers, body)
        except UsageError:
            return httpx.Response(400, headers={"content-type": "text/html;charset=utf-8"}, content=b"Bad Request")
        response, action = self.fake.handle_ex(fake_request)
        self._act(request, action)
        if action.truncate_at is not None:
            response = Response(
                response.status,
                tuple((k, v) for k, v in response.headers if k != "content-length"),
                response.body[: action.truncate_at],
            )
        return httpx.Response(response.status, headers=list(response.headers), content=response.body)

    def _act(self, request: httpx.Request, action: Action) -> None:
        if action.reset:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        if action.delay:
            timeouts = request.extensions.get("timeout") or {}
            read = timeouts.get("read") if isinstance(timeouts, dict) else None
            # A session's whole-call deadline (its timeout=) ends a slow reply too, when it comes
            # first: the error then says so, as it would over a socket.
            deadline = DEADLINE.get()
            if deadline is not None and action.delay > deadline.at - time.monotonic() and (
                    read is None or deadline.at - time.monotonic() <= read):
                deadline.hit = True
                raise httpx.ReadTimeout("The read operation timed out", request=request)
            if read is not None and action.delay > read:
                raise httpx.ReadTimeout("The read operation timed out", request=request)

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass
