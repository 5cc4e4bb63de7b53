"""What every store shares: the encryption hook, the stored bytes, the checks on what a caller
passes, and running a blocking call from async code (a worker thread through anyio, on asyncio
and trio alike)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

from okru_proto import Token, UsageError
from okru_proto._store import StoreError, token_from_json, token_to_json

__all__ = ["Codec", "check_holder", "check_key", "check_text", "check_ttl", "to_thread"]

T = TypeVar("T")


class Codec:
    """Token <-> stored bytes: versioned JSON (okru_proto's format), then the user's
    ``encrypt``/``decrypt`` hook if given (e.g. ``cryptography.fernet.Fernet(key).encrypt``)."""

    def __init__(self, encrypt: Callable[[bytes], bytes] | None,
                 decrypt: Callable[[bytes], bytes] | None) -> None:
        if (encrypt is None) != (decrypt is None):
            raise UsageError("pass both encrypt= and decrypt=, or neither")
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


def check_key(key: object) -> str:
    """A record key: any non-empty str (every character is allowed; the stores keep kinds of
    record apart by namespace, never by what a key may contain)."""
    if not isinstance(key, str) or not key:
        raise UsageError(f"a store key must be a non-empty str, got {type(key).__name__}")
    return key


def check_holder(holder: object) -> str:
    if not isinstance(holder, str) or not holder:
        raise UsageError(f"a claim's holder must be a non-empty str, got {type(holder).__name__}")
    return holder


def check_text(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise UsageError(f"{what} must be a str, got {type(value).__name__}")
    return value


def check_ttl(what: str, seconds: object, *, optional: bool = False) -> float | None:
    """Seconds > 0 and finite (``None`` too when ``optional``): a record that never expires is
    asked for with ``None``, never with 0, inf or a negative number."""
    if seconds is None and optional:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"{what} must be a number of seconds > 0{' (or None)' if optional else ''}, "
                         f"got {seconds!r}")
    return float(seconds)


_anyio_to_thread: Any = None


async def to_thread(function: Callable[..., T], *args: object) -> T:
    """``function(*args)`` in a worker thread (anyio's: the same on asyncio and trio), so a
    blocking store never stalls the event loop."""
    global _anyio_to_thread
    if _anyio_to_thread is None:
        try:
            from anyio import to_thread as module
        except ImportError as exc:  # pragma: no cover - exercised only without the extra
            raise ImportError("okru_stores' async methods run blocking drivers through anyio: "
                              "pip install 'okru[stores]' (or 'okru[redis]')") from exc
        _anyio_to_thread = module
    return await _anyio_to_thread.run_sync(functools.partial(function, *args))  # type: ignore[no-any-return]
