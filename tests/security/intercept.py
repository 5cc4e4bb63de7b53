"""A hook on each adapter's single ``send`` seam that records, and may rewrite, what passes (the
security suites' view of the wire, on every adapter of tests/adapters.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from okru_proto.adapter import Request, Response
from tests.adapters import Adapter

#: (request, response or None) -> the response to hand the core (rewrite it, or return as is)
Rewrite = Callable[[Request, Response], Response]


@dataclass
class Exchange:
    request: Request
    response: Response | None = None
    error: BaseException | None = None


def intercept(adapter: Adapter, session: Any, rewrite: Rewrite | None = None) -> list[Exchange]:
    """Record every request the core hands this session's transport (and its response or
    error), optionally rewriting responses. The list is what the transport was asked to send:
    a request missing from it never left the process."""
    seen: list[Exchange] = []
    # Every adapter hands the core's drivers its transport as ``session._send``.
    owner, attr = session, "_send"
    original = getattr(owner, attr)

    if adapter.blocking:
        def send(request: Request) -> Response:
            exchange = Exchange(request)
            seen.append(exchange)
            try:
                response = original(request)
            except BaseException as exc:
                exchange.error = exc
                raise
            exchange.response = rewrite(request, response) if rewrite else response
            return exchange.response

        setattr(owner, attr, send)
    else:
        async def asend(request: Request) -> Response:
            exchange = Exchange(request)
            seen.append(exchange)
            try:
                response = await original(request)
            except BaseException as exc:
                exchange.error = exc
                raise
            exchange.response = rewrite(request, response) if rewrite else response
            return exchange.response

        setattr(owner, attr, asend)
    return seen


def replace_header(response: Response, name: str, value: str) -> Response:
    headers = tuple((k, value if k == name else v) for k, v in response.headers)
    return Response(response.status, headers, response.body)
