"""The ASGI calling convention as this package's apps use it: the types, a short reply, and a
request body read under a size cap. Nothing here knows OK.ru."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["BodyTooLarge", "Receive", "Scope", "Send", "read_body", "reply"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def reply(send: Send, status: int, body: bytes = b"", headers: tuple[tuple[bytes, bytes], ...] = (),
                content_type: bytes = b"text/plain; charset=utf-8") -> None:
    """One whole response: ``status``, ``headers``, and ``body`` (typed ``content_type`` when
    there is one)."""
    head = [(b"content-length", str(len(body)).encode("ascii")), *headers]
    if body:
        head.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    """The request body went past the app's limit (the app answers 413)."""


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or ``None`` when the client went away; :class:`BodyTooLarge` past
    ``limit`` bytes (nothing past the limit is kept)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        if not message.get("more_body", False):
            # One message is the usual case: its bytes are the body, with no copy.
            return b"".join((*chunks, chunk)) if chunks else chunk
        chunks.append(chunk)
