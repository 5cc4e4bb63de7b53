"""What a shared token store is (a pure description) and how a :class:`Token` is written into one.

Many processes acting for one OK user share a token through a store (docs/workers.md). The core
owns the *rules* (the refresh flow in ``_shared_refresh``); a store only keeps, per key, the
newest token with its *generation* (a counter that grows by one with every save) and a *lease*
(one holder at a time, with an expiry, so a killed holder cannot block the others forever). The
stores that do I/O live in the ``okru_stores`` package; the flows never call them directly but
yield a :class:`~okru_proto._flow.StoreCall` effect, which the blocking driver runs with the
store's plain method and the async driver with its ``a``-prefixed twin.

The same stores keep two more kinds of record, each in its own namespace (a key of one kind
never reaches a record of another, whatever its characters): *once* records
(:class:`OnceStore`: exactly-once work across processes, e.g. a payment credited once) and plain
*values* (:class:`ValueStore`: e.g. a bot conversation's state).

Tokens are stored as versioned JSON (:func:`token_to_json`): it holds the access token, the
session secret and the refresh token in the clear, and a refresh token is a long-lived
credential (docs/workers.md says how to encrypt at rest).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from ._errors import Error
from ._values import Secret, Token, reveal

__all__ = [
    "TOKEN_FORMAT",
    "Claim",
    "OnceStore",
    "StoreError",
    "StoredToken",
    "TokenStore",
    "ValueStore",
    "token_from_json",
    "token_to_json",
]

#: The version written into every stored token (``"v"``); readers refuse a newer one.
TOKEN_FORMAT = 1

#: ``load`` returns the token and its generation (1 for the first save, +1 per save).
StoredToken = tuple[Token, int]


class StoreError(Error):
    """A store failed: unreachable, timed out, locked too long, or holding data this version of
    okru cannot read. The store's own exception is ``__cause__``; the message never holds a
    stored secret or a password."""

    retryable = True


@runtime_checkable
class TokenStore(Protocol):
    """A shared token store: newest token per key, its generation, and a lease per key.

    Every method exists twice: a blocking one (run by ``run_sync``) and an ``a``-prefixed
    coroutine (run by ``run_async``, under asyncio or trio). Methods raise :class:`StoreError`
    and must not block longer than their store's timeouts.

    * ``load(key)``: the stored ``(token, generation)``, or ``None`` if nothing is stored.
    * ``compare_and_set(key, token, expected_generation)``: store ``token`` with generation
      ``expected_generation + 1`` if the stored generation is still ``expected_generation``
      (0: nothing stored); True if stored. Generations only grow.
    * ``acquire_lease(key, holder, ttl)``: True if ``holder`` now holds the key's lease for
      ``ttl`` seconds (nobody held it, the previous lease expired, or ``holder`` held it: a
      renewal, which the refresh flow makes before each further request).
    * ``release_lease(key, holder)``: drop the lease if ``holder`` still holds it.

    ``lease_ttl`` and ``lease_wait`` tune the refresh flow: a refresher holds the lease for the
    longest its next request may take (the session's ``timeout=``) plus ``lease_ttl`` seconds,
    renewed before each request; a process waits for another one's refresh at most
    ``lease_wait`` seconds (``None``: as long as that lease can last, plus ``lease_ttl``) before
    giving up with :class:`StoreError`.

    What a store must keep (docs/workers.md): the newest token per key for as long as any worker
    runs, written atomically. A store that loses it (a restart without persistence, a flush, an
    eviction) is survived by the running workers, who compare tokens by issue time, not only by
    generation (``_shared_refresh``).
    """

    lease_ttl: float
    lease_wait: float | None

    def load(self, key: str) -> StoredToken | None: ...

    def compare_and_set(self, key: str, token: Token, expected_generation: int) -> bool: ...

    def acquire_lease(self, key: str, holder: str, ttl: float) -> bool: ...

    def release_lease(self, key: str, holder: str) -> None: ...

    async def aload(self, key: str) -> StoredToken | None: ...

    async def acompare_and_set(self, key: str, token: Token, expected_generation: int) -> bool: ...

    async def aacquire_lease(self, key: str, holder: str, ttl: float) -> bool: ...

    async def arelease_lease(self, key: str, holder: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Claim:
    """What :meth:`OnceStore.claim` found: ``"claimed"`` (the caller now holds the key and does
    the work), ``"busy"`` (another holder's claim is live: do not do the work now) or ``"done"``
    (an outcome is recorded: ``outcome`` is it, the work must not run again)."""

    status: Literal["claimed", "busy", "done"]
    outcome: str | None = None


@runtime_checkable
class OnceStore(Protocol):
    """Exactly-once work across processes: claim a key, do the work, record its outcome.

    * ``claim(key, holder, ttl)``, atomically: an outcome is recorded -> ``Claim("done",
      outcome)``; another holder's claim is still live -> ``Claim("busy")``; else ``holder`` now
      holds the key for ``ttl`` seconds -> ``Claim("claimed")`` (the same holder claiming again
      renews it). A holder killed while working blocks the key ``ttl`` seconds at most.
    * ``finish(key, holder, outcome, keep)``: record ``outcome`` for ``keep`` seconds and drop
      the claim. If another outcome is already recorded, keep that one and return False; else
      record and return True (even if the claim had expired meanwhile and nobody else claimed).
    * ``release(key, holder)``: drop the claim without an outcome (the work failed: the next try
      may claim the key again); no-op if ``holder`` does not hold it.

    Every method has an ``a``-prefixed async twin (asyncio and trio alike), raises
    :class:`StoreError` on failure and is bounded by the store's timeout.
    """

    def claim(self, key: str, holder: str, ttl: float) -> Claim: ...

    def finish(self, key: str, holder: str, outcome: str, keep: float) -> bool: ...

    def release(self, key: str, holder: str) -> None: ...

    async def aclaim(self, key: str, holder: str, ttl: float) -> Claim: ...

    async def afinish(self, key: str, holder: str, outcome: str, keep: float) -> bool: ...

    async def arelease(self, key: str, holder: str) -> None: ...


@runtime_checkable
class ValueStore(Protocol):
    """Small string values with an optional expiry (e.g. a bot conversation's state).

    ``get_value(key)``: the value, or None (never set, deleted or expired);
    ``set_value(key, value, ttl=None)``: store it (for ``ttl`` seconds, or until deleted);
    ``delete_value(key)``: drop it (no-op if absent). Async twins, errors and bounds as
    :class:`OnceStore`'s.
    """

    def get_value(self, key: str) -> str | None: ...

    def set_value(self, key: str, value: str, ttl: float | None = None) -> None: ...

    def delete_value(self, key: str) -> None: ...

    async def aget_value(self, key: str) -> str | None: ...

    async def aset_value(self, key: str, value: str, ttl: float | None = None) -> None: ...

    async def adelete_value(self, key: str) -> None: ...


_SECRETS = ("access_token", "session_secret_key", "refresh_token")
_PLAIN = ("token_type", "expires_in", "expires_at", "permissions_granted", "state", "uid", "api_server")


def token_to_json(token: Token) -> str:
    """``token`` as compact JSON, ``{"v": 1, ...}`` with every field (secrets revealed: the
    result is a credential; keep it where only the app can read it)."""
    data: dict[str, Any] = {"v": TOKEN_FORMAT}
    for name in _SECRETS:
        value = getattr(token, name)
        if value is not None:
            data[name] = reveal(value)
    for name in _PLAIN:
        value = getattr(token, name)
        if value is not None:
            data[name] = value
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def token_from_json(text: str | bytes) -> Token:
    """The :class:`Token` :func:`token_to_json` wrote; :class:`StoreError` for anything else
    (a newer format, a damaged record): the message never quotes the data, which holds secrets."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreError("the stored token is not valid JSON (damaged, or written with another "
                         "encryption hook)") from exc
    if not isinstance(data, dict) or not isinstance(data.get("v"), int):
        raise StoreError("the stored token has no format version: not written by okru")
    if data["v"] > TOKEN_FORMAT:
        raise StoreError(f"the stored token has format {data['v']}, newer than this okru "
                         f"understands ({TOKEN_FORMAT}): upgrade okru in every worker")
    access = data.get("access_token")
    if not isinstance(access, str):
        raise StoreError("the stored token has no access_token")
    fields: dict[str, Any] = {"access_token": Secret(access)}
    for name in _SECRETS[1:]:
        value = data.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise StoreError(f"the stored token's {name} is not a string")
            fields[name] = Secret(value)
    for name, kinds in (("token_type", str), ("expires_in", int), ("expires_at", (int, float)),
                        ("permissions_granted", str), ("state", str), ("uid", str), ("api_server", str)):
        value = data.get(name)
        if value is not None:
            if not isinstance(value, kinds) or isinstance(value, bool):
                raise StoreError(f"the stored token's {name} has the wrong type")
            fields[name] = float(value) if name == "expires_at" else value
    return Token(**fields)
