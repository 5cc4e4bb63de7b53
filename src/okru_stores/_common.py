"""What every store shares: the encryption hook, the stored bytes, and running a blocking call
from async code (asyncio's default executor, or a trio worker thread)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import TypeVar

from okru_proto import Token
from okru_proto._store import StoreError, token_from_json, token_to_json

__all__ = ["Codec", "to_thread"]

T = TypeVar("T")


class Codec:
    """Token <-> stored bytes: versioned JSON (okru_proto's format), then the user's
    ``encrypt``/``decrypt`` hook if given (e.g. ``cryptography.fernet.Fernet(key).encrypt``)."""

    def __init__(self, encrypt: Callable[[bytes], bytes] | None,
                 decrypt: Callable[[bytes], bytes] | None) -> None:
        if (encrypt is None) != (decrypt is None):
            raise StoreError("pass both encrypt= and decrypt=, or neither")
        self._encrypt = encrypt
        self._decrypt = decrypt

    def dump(self, token: Token) -> bytes:
        data = token_to_json(token).encode("utf-8")
        return data if self._encrypt is None else self._encrypt(data)

    def load(self, data: bytes) -> Token:
        if self._decrypt is not None:
            try:
                data = self._decrypt(data)
            except Exception as exc:
                raise StoreError(f"the decrypt hook refused the stored token ({type(exc).__name__}): "
                                 f"a different key than the one that wrote it?") from exc
        return token_from_json(data)


async def to_thread(function: Callable[..., T], *args: object) -> T:
    """``function(*args)`` in a worker thread of the running loop: asyncio's, or trio's
    (``trio.to_thread.run_sync``), so a blocking store never stalls the event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        import trio  # not asyncio: the only other loop okru's async adapters run on

        return await trio.to_thread.run_sync(functools.partial(function, *args))
    return await asyncio.to_thread(function, *args)
