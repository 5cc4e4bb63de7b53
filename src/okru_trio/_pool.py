"""The keep-alive pool and its deadlines: everything that decides which call holds which connection, and until when.

* :class:`Origin`: one (scheme, host, port)'s pool: its idle connections (LIFO), its slots (a
  semaphore of our own: ``free`` tokens and a FIFO of :class:`Waiter`), and the encoded request
  headers it has seen;
* :func:`release`: a slot given back, straight to the first waiter;
* :class:`Watchdog`: the read and whole-call deadlines of every busy connection and of every
  call waiting for a slot, enforced by one trio system task per transport instead of a
  CancelScope per call.

Why a watchdog: entering a trio CancelScope costs more than everything else the transport adds
to a call, so a call only writes ``conn.deadline`` (two attribute writes). One system task per
transport and trio run sleeps until the earliest deadline of a busy connection or a waiter,
closes the streams whose deadline passed (the blocked call then fails and raises
TransportTimeout) and wakes the waiters whose deadline passed. Deadlines are "now + a fixed
timeout", so a new call almost never needs the watchdog earlier than it already plans to look:
waking it is the rare path.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

import outcome
import trio

from ._conn import Connection, close_quietly

if TYPE_CHECKING:
    from h11._headers import Headers as _H11Headers

__all__ = ["Origin", "Waiter", "Watchdog", "release"]

_Value = outcome.Value  # an outcome is unwrapped once: a fresh one per wake-up
_current_time = trio.current_time


class Waiter:
    """A call waiting for a pool slot: its task and its whole-call deadline."""

    __slots__ = ("deadline", "task")

    def __init__(self, task: trio.lowlevel.Task, deadline: float) -> None:
        self.task = task
        self.deadline = deadline


class Origin:
    __slots__ = ("free", "header_cache", "host", "host_header", "idle", "label", "port", "tls", "waiters")

    def __init__(self, host: str, port: int, tls: bool, host_header: bytes, max_connections: int) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.host_header = (b"host", host_header)
        self.label = f"{host}:{port}"
        # Request headers tuple -> the encoded h11 header list, Host first (the core sends a
        # handful of header shapes, so encoding them once per origin saves work on every call).
        self.header_cache: dict[object, _H11Headers] = {}
        # LIFO: the most recently used connection is the least likely to have been closed by the
        # server's keep-alive timer.
        self.idle: list[Connection] = []
        # The pool's slots, a semaphore of our own: ``free`` tokens, and the calls waiting for one
        # (FIFO; ``release`` hands a token straight to the first waiter, so ``free`` > 0 implies
        # nobody waits). It bounds busy + idle connections: a new connection is opened only when
        # ``idle`` is empty, so at most ``max_connections`` exist. Unlike trio.Semaphore plus a
        # CancelScope per wait (~7 µs, a tenth of this transport's per-call budget with 1000
        # calls in flight), a waiter's total deadline is enforced by the Watchdog.
        self.free = max_connections
        self.waiters: deque[Waiter] = deque()


def release(origin: Origin) -> None:
    """Give a pool slot back: to the first waiter if there is one, else to ``free``."""
    if origin.waiters:
        trio.lowlevel.reschedule(origin.waiters.popleft().task, _Value(True))
    else:
        origin.free += 1


class Watchdog:
    """The deadlines of one transport's busy connections and slot waiters (see the module docstring).

    ``pools`` and ``conns`` are the transport's own containers (every origin; every open
    connection, busy or idle), read on each scan. ``wake`` is -inf while the watchdog is awake
    (its next scan sees every armed call), the time it sleeps until while asleep, and +inf while
    there is no watchdog task (the first armed call, in this trio run, starts one): a caller
    arms a deadline with ``if deadline < watch.wake: watch.arm(deadline)``.
    """

    __slots__ = ("_name", "closed", "conns", "pools", "sleep_scope", "task_scope", "wake")

    def __init__(self, pools: dict[tuple[bool, str, int], Origin], conns: set[Connection], name: str) -> None:
        self.pools = pools
        self.conns = conns
        self._name = name
        self.closed = False
        # The watchdog task's scope (None: no task), its sleep's scope (None: awake or no task),
        # and when it next looks.
        self.task_scope: trio.CancelScope | None = None
        self.sleep_scope: trio.CancelScope | None = None
        self.wake = math.inf

    def arm(self, deadline: float) -> None:
        """Make the watchdog look at ``deadline`` (which is earlier than ``wake``)."""
        sleeping = self.sleep_scope
        if sleeping is not None:
            self.wake = deadline
            sleeping.deadline = deadline
            return
        # No watchdog yet, or the trio run that had one has ended.
        self.wake = -math.inf
        trio.lowlevel.spawn_system_task(self._run, name=self._name)

    def stop(self) -> None:
        """The transport is closing: end the task (it may not start again)."""
        self.closed = True
        if self.task_scope is not None:
            self.task_scope.cancel()
            self.task_scope = None

    async def wait_for_slot(self, origin: Origin, total_deadline: float) -> bool:
        """Park until ``release`` hands this call a token (True) or ``total_deadline`` passes (False).

        Cancelling the call from outside takes it off the queue (``abort``).
        """
        waiter = Waiter(trio.lowlevel.current_task(), total_deadline)
        waiters = origin.waiters
        waiters.append(waiter)
        if total_deadline < self.wake:
            self.arm(total_deadline)

        def abort(raise_cancel: object) -> trio.lowlevel.Abort:
            waiters.remove(waiter)
            return trio.lowlevel.Abort.SUCCEEDED

        return bool(await trio.lowlevel.wait_task_rescheduled(abort))

    async def _run(self) -> None:
        try:
            with trio.CancelScope() as self.task_scope:
                while not self.closed:
                    now = _current_time()
                    wake = math.inf
                    for origin in self.pools.values():
                        # Waiters queue in deadline order (now + one fixed timeout), so only the
                        # head of each queue needs looking at.
                        waiters = origin.waiters
                        while waiters and waiters[0].deadline <= now:
                            trio.lowlevel.reschedule(waiters.popleft().task, _Value(False))
                        if waiters and waiters[0].deadline < wake:
                            wake = waiters[0].deadline
                    expired = []
                    for conn in self.conns:
                        deadline = conn.deadline
                        if deadline <= now:
                            expired.append(conn)
                        elif deadline < wake:
                            wake = deadline
                    for conn in expired:
                        # The call blocked on this stream gets ClosedResourceError (or a broken
                        # TLS stream) and, seeing ``expired``, raises TransportTimeout.
                        conn.expired = conn.kind
                        conn.deadline = math.inf
                        self.conns.discard(conn)
                        await close_quietly(conn.stream)
                    if expired:
                        continue
                    self.wake = wake
                    with trio.CancelScope(deadline=wake) as self.sleep_scope:
                        await trio.sleep_forever()
                    self.sleep_scope = None
                    self.wake = -math.inf
        finally:
            self.task_scope = self.sleep_scope = None
            self.wake = math.inf
