"""The retry policy: everything that decides whether a failed attempt runs again lives here.

:class:`RetryPolicy` says how often and how long to wait; :func:`retrying` is the one loop every
flow runs its attempts in (REST calls, the refresh grant, Bot API requests), so "which failures
are retried, and after which delay" is written once. A failure is retried when it is an
:class:`~okru_proto.Error` whose ``retryable`` is true (flood 8, service 2 and other retry-later
codes, HTTP 5xx, transport failures: docs/protocol.md §5 and §8).
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass, field

from ._errors import Error, UsageError
from ._flow import Flow, Sleep, T

__all__ = ["RetryPolicy", "retrying"]


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
