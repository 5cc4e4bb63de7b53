"""The emulator's clocks: :class:`FakeClock`, which only tests move (the default: a ``FakeOK``
never reads the wall clock), and :class:`WallClock`, the real time (optionally sped up) for an
emulator that people and other programs use interactively, e.g. ``okru fake-server``."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["DEFAULT_EPOCH", "Clock", "FakeClock", "WallClock"]

#: 2024-01-01T00:00:00Z: a fixed start so token expiry and ids are reproducible run to run.
DEFAULT_EPOCH = 1_704_067_200.0


class Clock(Protocol):
    """What :class:`~okru_proto.testing.FakeOK` needs from a clock: the current Unix time, and a
    way for tests to move it (``fake.clock.advance(seconds)``). :class:`FakeClock` and
    :class:`WallClock` are two."""

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


class WallClock:
    """The wall clock, ``speed`` times as fast: it starts at the real time and every real second
    moves it ``speed`` seconds (``speed=60``: a 30-minute token expires in 30 real seconds).

    ``time_source`` (default :func:`time.time`) is injectable, so tests need no waiting;
    :meth:`advance` jumps forward on top of the running time.
    """

    __slots__ = ("_offset", "_source", "_speed", "_start")

    def __init__(self, speed: float = 1.0, *, time_source: Callable[[], float] | None = None) -> None:
        if not (isinstance(speed, (int, float)) and math.isfinite(speed) and speed > 0):
            raise ValueError(f"the clock's speed must be a positive finite number, not {speed!r}")
        self._source: Callable[[], float] = time_source if time_source is not None else time.time
        self._speed = float(speed)
        self._start = float(self._source())
        self._offset = 0.0

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def now(self) -> float:
        return self._start + (float(self._source()) - self._start) * self._speed + self._offset

    def advance(self, seconds: float) -> float:
        """Jump forward by ``seconds`` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError("the emulator's clock only moves forward")
        self._offset += float(seconds)
        return self.now

    def __repr__(self) -> str:
        return f"WallClock(speed={self._speed!r}, now={self.now!r})"
