"""The emulator's own clock: tests move time explicitly, nothing reads the wall clock."""

from __future__ import annotations

from typing import Protocol

__all__ = ["DEFAULT_EPOCH", "Clock", "FakeClock"]

#: 2024-01-01T00:00:00Z: a fixed start so token expiry and ids are reproducible run to run.
DEFAULT_EPOCH = 1_704_067_200.0


class Clock(Protocol):
    """What :class:`~okru_proto.testing.FakeOK` needs from a clock: the current Unix time, and a
    way for tests to move it (``fake.clock.advance(seconds)``). :class:`FakeClock` is one."""

    @property
    def now(self) -> float: ...

    def advance(self, seconds: float) -> float: ...


class FakeClock:
    """A manual clock starting at ``start`` (Unix seconds); only :meth:`advance`/:meth:`set` move it."""

    __slots__ = ("_now",)

    def __init__(self, start: float = DEFAULT_EPOCH) -> None:
        self._now = float(start)

    @property
    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError("the emulator's clock only moves forward")
        self._now += float(seconds)
        return self._now

    def set(self, when: float) -> None:
        """Jump to an absolute Unix time (may go backwards: tests of clock skew)."""
        self._now = float(when)

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r})"
