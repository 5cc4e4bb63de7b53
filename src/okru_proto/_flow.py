"""Flows and their two drivers (the only sync/async difference in the project).

A flow is a generator, as httpx's ``Auth.auth_flow``: it yields what it needs done — a
:class:`Request` to send, a :class:`Sleep`, or a :class:`RefreshNeeded` — receives the
:class:`Response` (or ``None``), and returns its result or raises one of our errors. The drivers
below run a flow with the ``send``/``sleep`` callables an adapter gives them; the async one only
awaits what it is given, so it runs under asyncio, trio or any other loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ._errors import Error, UsageError
from ._types import Request, Response

__all__ = [
    "Effect",
    "Flow",
    "RefreshNeeded",
    "Refreshable",
    "Sleep",
    "run_async",
    "run_sync",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sleep:
    """Effect: sleep this many seconds, then resume the flow with ``None`` (retry backoff)."""

    seconds: float


class Refreshable(Protocol):
    """What :class:`RefreshNeeded` points at: a token holder that can refresh itself."""

    @property
    def generation(self) -> int: ...

    def refresh_flow(self) -> Flow[Any]: ...


@dataclass(frozen=True, slots=True)
class RefreshNeeded:
    """Effect: the token the flow used has expired (OK error 102, or it is about to).

    The driver refreshes at most once for all concurrent callers: under its lock, it runs
    ``target.refresh_flow()`` only if ``target.generation`` still equals ``generation`` (nobody
    refreshed meanwhile), then resumes the flow with ``None``, which replays the call once.
    """

    target: Refreshable
    generation: int


Effect = Request | Sleep | RefreshNeeded
#: ``Generator[Effect, Response | None, T]``; the value sent in is the ``Response`` for a
#: ``Request`` and ``None`` for the other effects.
Flow = Generator[Effect, Any, T]


def run_sync(
    flow: Flow[T],
    send: Callable[[Request], Response],
    sleep: Callable[[float], object],
    lock: AbstractContextManager[Any] | None = None,
) -> T:
    """Drive ``flow`` to its result with a blocking ``send`` and ``sleep``.

    An :class:`~okru_proto.Error` raised by ``send`` (the adapter's transport error) is thrown
    into the flow, which may retry or re-raise it; anything else propagates untouched.
    """
    try:
        effect = next(flow)
        while True:
            kind = type(effect)
            if kind is Request:
                try:
                    response = send(effect)  # type: ignore[arg-type]
                except Error as exc:
                    effect = flow.throw(exc)
                    continue
                effect = flow.send(response)
            elif kind is Sleep:
                sleep(effect.seconds)  # type: ignore[union-attr]
                effect = flow.send(None)
            elif kind is RefreshNeeded:
                target = effect.target  # type: ignore[union-attr]
                if lock is None:
                    if target.generation == effect.generation:  # type: ignore[union-attr]
                        run_sync(target.refresh_flow(), send, sleep)
                else:
                    with lock:
                        if target.generation == effect.generation:  # type: ignore[union-attr]
                            run_sync(target.refresh_flow(), send, sleep)
                effect = flow.send(None)
            else:
                raise UsageError(f"a flow yielded {effect!r}, which is not an effect")
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        flow.close()


async def run_async(
    flow: Flow[T],
    send: Callable[[Request], Awaitable[Response]],
    sleep: Callable[[float], Awaitable[object]],
    lock: AbstractAsyncContextManager[Any] | None = None,
) -> T:
    """The async twin of :func:`run_sync`: same body, awaiting ``send``/``sleep``/``lock``."""
    try:
        effect = next(flow)
        while True:
            kind = type(effect)
            if kind is Request:
                try:
                    response = await send(effect)  # type: ignore[arg-type]
                except Error as exc:
                    effect = flow.throw(exc)
                    continue
                effect = flow.send(response)
            elif kind is Sleep:
                await sleep(effect.seconds)  # type: ignore[union-attr]
                effect = flow.send(None)
            elif kind is RefreshNeeded:
                target = effect.target  # type: ignore[union-attr]
                if lock is None:
                    if target.generation == effect.generation:  # type: ignore[union-attr]
                        await run_async(target.refresh_flow(), send, sleep)
                else:
                    async with lock:
                        if target.generation == effect.generation:  # type: ignore[union-attr]
                            await run_async(target.refresh_flow(), send, sleep)
                effect = flow.send(None)
            else:
                raise UsageError(f"a flow yielded {effect!r}, which is not an effect")
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        flow.close()
