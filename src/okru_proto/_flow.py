"""Flows, their two drivers (the only sync/async difference in the project), and the retry loop.

A flow is a generator, as httpx's ``Auth.auth_flow``: it yields what it needs done — a
:class:`Request` to send, a :class:`Sleep`, a :class:`RefreshNeeded`, a :class:`Callback` of
the user's (``on_token``: awaited by the async driver when it is async), a :class:`StoreCall`
on a shared token store, or a :class:`Measure` of an upload's source — receives the :class:`Response` (or ``None``, or the store's answer),
and returns its result or raises one of our errors. The drivers
below run a flow with the ``send``/``sleep`` callables an adapter gives them; the async one only
awaits what it is given, so it runs under asyncio, trio or any other loop.
"""

from __future__ import annotations

import functools
import inspect
import random as _random
from collections.abc import Awaitable, Callable, Generator, Iterable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ._errors import Error, UsageError
from ._scrub import scrub_error
from ._values import Request, Response, request_secrets

__all__ = [
    "Callback",
    "Effect",
    "Flow",
    "Measure",
    "RefreshNeeded",
    "Refreshable",
    "RetryPolicy",
    "Sleep",
    "StoreCall",
    "guarded",
    "is_async_callable",
    "retrying",
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


@dataclass(frozen=True, slots=True)
class Callback:
    """Effect: call the user's ``function(argument)`` (``on_token``), then resume with ``None``.

    The async driver awaits the result when it is awaitable (an ``async def`` callback); the
    blocking driver refuses one (closes it, raises :class:`~okru_proto.UsageError`): nobody
    would ever run it. What the callback raises propagates unchanged out of the driver
    (docs/tokens.md).
    """

    function: Callable[[Any], object]
    argument: Any


@dataclass(frozen=True, slots=True)
class StoreCall:
    """Effect: run ``store.<method>(*args)`` on a shared token store (``_shared_refresh``).

    The blocking driver calls the plain method, the async driver awaits ``a<method>`` (e.g.
    ``aload``), then resumes the flow with the result. Whatever the store raises is thrown into
    the flow, which releases its lease and turns it into a typed ``StoreError``.
    """

    store: Any
    method: str
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Measure:
    """Effect: measure an upload's source now with the adapter's ``function(query)`` (okru_io's:
    a stat, and a digest of the ranges the query names), then resume the flow with the result.

    The core never touches a file, yet only it can decide whether the source is still the one it
    started sending (a video flow measures before every chunk). The async driver awaits the result
    when it is awaitable (an async adapter reads in a worker thread); the blocking driver refuses
    one. An :class:`~okru_proto.Error` the function raises is thrown into the flow.
    """

    function: Callable[[Any], object]
    query: Any


def is_async_callable(function: object) -> bool:
    """True for a coroutine function, a ``functools.partial`` of one, or an object whose
    ``__call__`` is one (what the blocking sessions refuse as ``on_token``)."""
    while isinstance(function, functools.partial):
        function = function.func
    if inspect.iscoroutinefunction(function):
        return True
    if not callable(function) or inspect.isfunction(function) or inspect.ismethod(function):
        return False
    return inspect.iscoroutinefunction(type(function).__call__)


def _refuse_awaitable(result: object, what: str = "on_token") -> None:
    close = getattr(result, "close", None)
    if callable(close):
        close()  # a coroutine: closed, so Python does not warn it was never awaited
    raise UsageError(f"{what} returned an awaitable on a blocking session, which cannot await it; "
                     "pass a plain function (or use the async adapter)")


Effect = Request | Sleep | RefreshNeeded | Callback | StoreCall | Measure
#: ``Generator[Effect, Response | None, T]``; the value sent in is the ``Response`` for a
#: ``Request`` and ``None`` for the other effects.
Flow = Generator[Effect, Any, T]


#: How many of a flow's latest requests :func:`guarded` remembers (a dialog takes up to 12 steps;
#: the password is in the login POST, a few steps before the end).
_REMEMBERED_REQUESTS = 16


def guarded(flow: Flow[T], secrets: Callable[[], Iterable[object]] | Iterable[object] = ()) -> Flow[T]:
    """``flow``, with every :class:`~okru_proto.Error` it raises scrubbed of secrets.

    The secrets are ``secrets`` (an iterable, or a callable returning one when the error
    happens: a session's token changes as it runs) plus the credentials in the requests the flow
    sent (:func:`~okru_proto.request_secrets`: token, password, app secret, code, cookies), so
    whatever text a server echoed into the error (docs/errors.md) cannot carry them. Requests are
    only kept by reference; nothing is computed unless an error is raised.
    """
    sent: list[Request] = []
    try:
        effect = next(flow)
        while True:
            if type(effect) is Request:
                if len(sent) >= _REMEMBERED_REQUESTS:
                    del sent[0]
                sent.append(effect)
            try:
                reply = yield effect
            except GeneratorExit:
                raise
            except BaseException as exc:  # the driver's transport error, thrown into the flow
                effect = flow.throw(exc)
            else:
                effect = flow.send(reply)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    except Error as exc:
        known = list(secrets() if callable(secrets) else secrets)
        for request in sent:
            known += request_secrets(request)
        scrub_error(exc, known)  # in place: the bare raise keeps the traceback and the chain
        raise
    finally:
        flow.close()


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
            elif kind is Callback:
                result = effect.function(effect.argument)  # type: ignore[union-attr]
                if inspect.isawaitable(result):
                    _refuse_awaitable(result)
                effect = flow.send(None)
            elif kind is StoreCall:
                try:
                    stored = getattr(effect.store, effect.method)(*effect.args)  # type: ignore[union-attr]
                except Exception as exc:
                    effect = flow.throw(exc)
                    continue
                effect = flow.send(stored)
            elif kind is Measure:
                try:
                    measured = effect.function(effect.query)  # type: ignore[union-attr]
                    if inspect.isawaitable(measured):
                        _refuse_awaitable(measured, "a source measure")
                except Error as exc:
                    effect = flow.throw(exc)
                    continue
                effect = flow.send(measured)
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
            elif kind is Callback:
                result = effect.function(effect.argument)  # type: ignore[union-attr]
                if inspect.isawaitable(result):
                    await result
                effect = flow.send(None)
            elif kind is StoreCall:
                try:
                    stored = await getattr(effect.store, "a" + effect.method)(*effect.args)  # type: ignore[union-attr]
                except Exception as exc:
                    effect = flow.throw(exc)
                    continue
                effect = flow.send(stored)
            elif kind is Measure:
                try:
                    measured = effect.function(effect.query)  # type: ignore[union-attr]
                    if inspect.isawaitable(measured):
                        measured = await measured
                except Error as exc:
                    effect = flow.throw(exc)
                    continue
                effect = flow.send(measured)
            else:
                raise UsageError(f"a flow yielded {effect!r}, which is not an effect")
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        flow.close()


# -- The retry policy: everything that decides whether a failed attempt runs again lives here ----


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Opt-in retries: capped exponential backoff with jitter.

    Retries flood (8), service (2) and other retry-later errors, HTTP 5xx and transport
    failures, at most ``attempts`` times after the first try. The delay before retry ``n``
    (0-based) is ``d/2 + random()*d/2`` with ``d = min(cap, base * 2**n)``; ``random`` is passed
    in (tests give a fixed one). Off by default: retrying a non-idempotent call such as
    ``mediatopic.post`` after a timeout can post twice.
    """

    attempts: int = 3
    base: float = 0.5
    cap: float = 8.0
    random: Callable[[], float] = field(default=_random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 0 or self.base < 0 or self.cap < 0:
            raise UsageError("RetryPolicy needs attempts, base and cap >= 0")

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap, self.base * (2 ** min(attempt, 32)))
        return float(ceiling / 2 + self.random() * ceiling / 2)


def retrying(policy: RetryPolicy | None, attempt: Callable[[], Flow[T]]) -> Flow[T]:
    """Run ``attempt()`` (a fresh flow each time) until it returns, or fails in a way the policy
    does not retry: not retryable, no policy, or ``policy.attempts`` retries spent. Between
    attempts it yields a :class:`~okru_proto.adapter.Sleep` effect with the policy's delay."""
    tries = 0
    while True:
        try:
            return (yield from attempt())
        except Error as exc:
            if policy is None or tries >= policy.attempts or not getattr(exc, "retryable", False):
                raise
        yield Sleep(policy.delay(tries))
        tries += 1
