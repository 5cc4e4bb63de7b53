"""How many payment handlers run at once: a counting limit whose freed slot goes to the oldest
waiter, so a burst cannot starve an early call, and whose waiting is bounded by the call's
deadline (then OK is answered SERVICE and comes back). Taking a free slot awaits nothing."""

from __future__ import annotations

from collections import deque
from typing import Any

import anyio

__all__ = ["Slots"]


class Slots:
    """At most ``limit`` holders; :meth:`take` is free when a slot is, :meth:`wait` queues."""

    __slots__ = ("limit", "running", "waiters")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self.waiters: deque[list[Any]] = deque()

    def take(self) -> bool:
        """Take a free slot now (True), or none (False: :meth:`wait` for one)."""
        if self.running < self.limit and not self.waiters:
            self.running += 1
            return True
        return False

    async def wait(self, deadline: float) -> bool:
        """Wait until a slot is handed over (True) or ``deadline`` passes (False)."""
        waiter: list[Any] = [anyio.Event(), False]  # [wake, granted]
        self.waiters.append(waiter)
        try:
            with anyio.move_on_after(deadline - anyio.current_time()):
                await waiter[0].wait()
        except BaseException:  # cancelled: give back a slot handed over meanwhile
            if waiter[1]:
                self.give()
            else:
                self.waiters.remove(waiter)
            raise
        if not waiter[1]:
            self.waiters.remove(waiter)
        return bool(waiter[1])

    def give(self) -> None:
        """Free a slot: to the oldest waiter (the count stays), else back to the pool."""
        if self.waiters:
            waiter = self.waiters.popleft()
            waiter[1] = True
            waiter[0].set()
        else:
            self.running -= 1
