"""Running a game's payment handler at most once per transaction, across every process that
shares a store (docs/protocol.md §13.6): claims, their renewal, the handler's deadline, the
outcome recorded for OK's repeats, and the bound on handlers running at once.

* A transaction's key is claimed in the store for ``claim_ttl`` seconds before the handler runs;
  while it runs, the claim is renewed every third of that. Under the ASGI lifespan (uvicorn and
  hypercorn run it by default) one task of the app renews every live claim, so a request costs
  no task of its own; without it, each request renews its own claim in a task group.
* A repeat finding the key claimed by another holder waits up to ``busy_wait`` for an outcome,
  then gets SERVICE (2): OK comes back 5 s later.
* ``timeout`` bounds the wait for the handler. An ``async`` handler is cancelled at the deadline
  (nothing recorded, the claim released: like a crash). A plain function runs in a worker thread,
  which cannot be stopped: past the deadline OK gets SERVICE (2), the thread keeps the claim
  (renewed) and records its own outcome, through the store's blocking methods, when it returns.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import json
import logging
import os
import secrets
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from okru_proto.apps import (
    SERVICE,
    Payment,
    PaymentRejected,
    PaymentReply,
    ReplyFormat,
    error_reply,
    payment_reply,
)
from okru_stores import OnceStore

__all__ = ["OnceRunner", "is_async"]

log = logging.getLogger("okru.payments")

Handler = Callable[[Payment], Any]


def is_async(function: object) -> bool:
    """True for a coroutine function, a ``functools.partial`` of one, or an object whose
    ``__call__`` is one: such a handler runs on the server's loop, anything else in a thread."""
    while isinstance(function, functools.partial):
        function = function.func
    if inspect.iscoroutinefunction(function):
        return True
    if not callable(function) or inspect.isfunction(function) or inspect.ismethod(function):
        return False
    return inspect.iscoroutinefunction(type(function).__call__)


class _Ended:
    """How a handler's run ended: the ``reply`` for OK, and whether it is ``final`` (recorded)."""

    __slots__ = ("final", "reply")

    def __init__(self, reply: PaymentReply, final: bool) -> None:
        self.reply = reply
        self.final = final


class _ThreadJob:
    """A plain handler's run in a worker thread: who records its outcome is decided under
    ``lock`` (the request, or, once the request gave up at its deadline, the thread itself)."""

    __slots__ = ("abandoned", "done", "ended", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.abandoned = False
        self.ended: _Ended | None = None
        self.done = threading.Event()


class OnceRunner:
    """Runs ``handler`` at most once per key: :meth:`run` for each payment, and
    :meth:`renew_forever` in the server's lifespan. ``stats`` is the app's counter dict."""

    def __init__(self, handler: Handler, store: OnceStore, *, format: ReplyFormat, timeout: float,
                 busy_wait: float, claim_ttl: float, keep: float, max_handlers: int,
                 stats: dict[str, int]) -> None:
        self.handler = handler
        self.is_async = is_async(handler)
        self.store = store
        self.format: ReplyFormat = format
        self.timeout = timeout
        self.busy_wait = busy_wait
        self.claim_ttl = claim_ttl
        self.keep = keep
        self.max_handlers = max_handlers
        self.stats = stats
        self.service = error_reply(SERVICE, format=format)
        self._success = payment_reply(format=format)
        self._success_outcome = self.outcome(self._success)
        self._holders = itertools.count(1)
        self._prefix = f"{os.getpid()}.{secrets.token_hex(6)}"
        #: Claims being worked on (key -> holder, transaction), renewed by renew_forever.
        self.live: dict[str, tuple[str, str]] = {}
        #: True while the lifespan's renew_forever runs (then requests renew nothing themselves).
        self.renewing = False
        self._running = 0
        self._waiters: deque[list[Any]] = deque()
        self._threads: tuple[object, anyio.CapacityLimiter] | None = None

    # -- outcomes --------------------------------------------------------------------------
    def outcome(self, reply: PaymentReply) -> str:
        """What is recorded for a transaction: the answer OK gets again (format-free)."""
        if reply.code is None:
            return '{"v":1,"code":null,"error_msg":null}'
        return json.dumps({"v": 1, "code": reply.code, "error_msg": reply.error_msg}, ensure_ascii=False,
                          separators=(",", ":"))

    def recorded(self, outcome: str | None, transaction: str) -> PaymentReply:
        """The answer a recorded outcome stands for (SERVICE for one this version cannot read)."""
        if outcome == self._success_outcome:
            return self._success
        try:
            data = json.loads(outcome or "")
            code = data["code"]
            if code is None:
                return self._success
            return error_reply(int(code), str(data["error_msg"]), format=self.format)
        except (ValueError, KeyError, TypeError):
            log.error("payments_app: the outcome recorded for transaction %r is unreadable (written by "
                      "another version of okru?); answered SERVICE (2)", transaction)
            return self.service

    # -- handler slots ---------------------------------------------------------------------
    async def _take_slot(self, deadline: float) -> bool:
        if self._running < self.max_handlers and not self._waiters:
            self._running += 1
            return True
        waiter: list[Any] = [anyio.Event(), False]  # [wake, granted]
        self._waiters.append(waiter)
        try:
            with anyio.move_on_after(deadline - anyio.current_time()):
                await waiter[0].wait()
        except BaseException:
            if waiter[1]:
                self._give_slot()
            else:
                self._waiters.remove(waiter)
            raise
        if not waiter[1]:
            self._waiters.remove(waiter)
        return bool(waiter[1])

    def _give_slot(self) -> None:
        if self._waiters:  # the slot changes hands: the count stays
            waiter = self._waiters.popleft()
            waiter[1] = True
            waiter[0].set()
        else:
            self._running -= 1

    # -- one payment -------------------------------------------------------------------------
    async def run(self, payment: Payment, key: str | None, answer: Callable[[PaymentReply], Awaitable[None]]) -> None:
        """Handle ``payment`` (keyed by ``key``; None: never de-duplicated) and ``answer`` OK."""
        deadline = anyio.current_time() + self.timeout
        if not await self._take_slot(deadline):
            self.stats["busy"] += 1
            log.warning("payments_app: no handler slot freed within %.1f s (max_handlers=%d); answered "
                        "SERVICE (2) so OK tries again", self.timeout, self.max_handlers)
            await answer(self.service)
            return
        try:
            await self._keyed(payment, key, deadline, answer)
        finally:
            self._give_slot()

    async def _keyed(self, payment: Payment, key: str | None, deadline: float,
                     answer: Callable[[PaymentReply], Awaitable[None]]) -> None:
        transaction = payment.transaction_id
        if key is None:
            ended, _ = await self._work(payment, None, "", deadline)
            await answer(ended.reply)
            return
        holder = f"{self._prefix}.{next(self._holders)}"
        busy_until = 0.0  # set when first busy (anyio.current_time() is not free)
        delay = 0.05
        while True:
            try:
                claim = await self.store.aclaim(key, holder, self.claim_ttl)
            except Exception:
                self.stats["failed"] += 1
                log.exception("payments_app: the store could not claim transaction %r; answered SERVICE (2) "
                              "so OK tries again", transaction)
                await answer(self.service)
                return
            if claim.status == "done":
                self.stats["repeats"] += 1
                await answer(self.recorded(claim.outcome, transaction))
                return
            if claim.status == "claimed":
                break
            now = anyio.current_time()
            if not busy_until:
                busy_until = min(now + self.busy_wait, deadline)
            if now + delay > busy_until:
                # Another process runs this transaction's handler now: OK's next try (5 s on)
                # finds its outcome, or the key free if that process died.
                self.stats["busy"] += 1
                log.info("payments_app: transaction %r is being handled by another server; answered "
                         "SERVICE (2) so OK tries again", transaction)
                await answer(self.service)
                return
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.5)
        self.live[key] = (holder, transaction)
        if self.renewing:  # the lifespan's task renews it
            ended, job = await self._work(payment, key, holder, deadline)
            await answer(ended.reply)
            return
        async with anyio.create_task_group() as tasks:  # no lifespan: this request renews its claim
            tasks.start_soon(self._renew_until_done, key)
            ended, job = await self._work(payment, key, holder, deadline)
            await answer(ended.reply)
            if job is None:
                tasks.cancel_scope.cancel()
            # else: a thread past the deadline; renewing stops once it recorded (live entry gone)

    async def _work(self, payment: Payment, key: str | None, holder: str,
                    deadline: float) -> tuple[_Ended, _ThreadJob | None]:
        """Run the handler within the deadline and record (or release) its outcome; the answer
        for OK, and the job of a thread still running past the deadline (which records itself)."""
        transaction = payment.transaction_id
        if self.is_async:
            ended: _Ended | None = None
            with anyio.CancelScope(deadline=deadline):
                ended = await self._call_async(payment)
            if ended is None:
                self.stats["timeouts"] += 1
                log.warning("payments_app: the handler ran past timeout=%.1f s on transaction %r and was "
                            "cancelled; answered SERVICE (2) so OK tries again", self.timeout, transaction)
                ended = _Ended(self.service, final=False)
            if key is not None:
                await self._record(key, holder, ended, transaction)
            return ended, None
        job = _ThreadJob()
        loop = anyio.lowlevel.current_token()
        if self._threads is None or self._threads[0] is not loop:
            self._threads = (loop, anyio.CapacityLimiter(self.max_handlers))
        with anyio.move_on_after(deadline - anyio.current_time()):
            await anyio.to_thread.run_sync(self._call_in_thread, payment, key, holder, job,
                                           abandon_on_cancel=True, limiter=self._threads[1])
        with job.lock:
            result = job.ended
            if result is None:
                job.abandoned = True
        if result is None:
            self.stats["timeouts"] += 1
            log.warning("payments_app: the handler ran past timeout=%.1f s on transaction %r; answered SERVICE "
                        "(2). It runs in a thread, which cannot be stopped: it keeps the transaction, and its "
                        "outcome is recorded for OK's next try", self.timeout, transaction)
            return _Ended(self.service, final=False), job
        if key is not None:
            await self._record(key, holder, result, transaction)
        return result, None

    async def _call_async(self, payment: Payment) -> _Ended:
        try:
            result = self.handler(payment)
            if inspect.isawaitable(result):
                await result
        except PaymentRejected as exc:
            return self._rejected(exc)
        except Exception:
            return self._failed(payment)
        self.stats["credited"] += 1
        return _Ended(self._success, final=True)

    def _call_in_thread(self, payment: Payment, key: str | None, holder: str, job: _ThreadJob) -> None:
        try:
            result = self.handler(payment)
            if inspect.isawaitable(result):  # a plain function that returned a coroutine
                anyio.from_thread.run(_await, result)
        except PaymentRejected as exc:
            ended = self._rejected(exc)
        except Exception:
            ended = self._failed(payment)
        else:
            self.stats["credited"] += 1
            ended = _Ended(self._success, final=True)
        with job.lock:
            job.ended = ended
            abandoned = job.abandoned
        if abandoned and key is not None:  # the request answered SERVICE at its deadline: record here
            self._record_blocking(key, holder, ended, payment.transaction_id)
        job.done.set()

    def _rejected(self, exc: PaymentRejected) -> _Ended:
        self.stats["rejected"] += 1
        return _Ended(payment_reply(exc, format=self.format), final=exc.code != SERVICE)

    def _failed(self, payment: Payment) -> _Ended:
        self.stats["failed"] += 1
        # The traceback is for the game's logs; OK only ever sees SERVICE (2).
        log.exception("payments_app: the handler raised on transaction %r (product %r); answered SERVICE (2) "
                      "so OK tries again", payment.transaction_id, payment.product_code)
        return _Ended(self.service, final=False)

    # -- recording -----------------------------------------------------------------------------
    async def _record(self, key: str, holder: str, ended: _Ended, transaction: str) -> None:
        try:
            if ended.final:
                first = await self.store.afinish(key, holder, self.outcome(ended.reply), self.keep)
                self._after_finish(first, transaction)
            else:
                await self.store.arelease(key, holder)
        except Exception:
            self._store_failed(ended, transaction)
        finally:
            self.live.pop(key, None)

    def _record_blocking(self, key: str, holder: str, ended: _Ended, transaction: str) -> None:
        try:
            if ended.final:
                self._after_finish(self.store.finish(key, holder, self.outcome(ended.reply), self.keep), transaction)
            else:
                self.store.release(key, holder)
        except Exception:
            self._store_failed(ended, transaction)
        finally:
            self.live.pop(key, None)

    def _after_finish(self, first: bool, transaction: str) -> None:
        if not first:
            log.error("payments_app: transaction %r was handled here after another server recorded its "
                      "outcome (this claim had expired: a handler blocking the event loop, or claim_ttl too "
                      "short?)", transaction)

    def _store_failed(self, ended: _Ended, transaction: str) -> None:
        if ended.final:
            log.error("payments_app: transaction %r was handled but its outcome could not be recorded (the "
                      "store failed): a repeat of it would run the handler again", transaction, exc_info=True)
        else:
            log.warning("payments_app: could not release transaction %r (the store failed); it frees itself "
                        "after claim_ttl=%.1f s", transaction, self.claim_ttl, exc_info=True)

    # -- renewing claims -----------------------------------------------------------------------
    async def _renew(self, key: str) -> None:
        entry = self.live.get(key)
        if entry is None:
            return
        holder, transaction = entry
        try:
            claim = await self.store.aclaim(key, holder, self.claim_ttl)
        except Exception:
            log.warning("payments_app: could not renew the claim on transaction %r (the store failed)",
                        transaction, exc_info=True)
            return
        if claim.status == "claimed":
            if key not in self.live:  # its work ended (released) while this renewal was on the way
                await self.store.arelease(key, holder)
            return
        if self.live.pop(key, None) is not None and claim.status == "busy":
            log.error("payments_app: lost the claim on transaction %r while its handler runs: another server "
                      "may run it too", transaction)

    async def _renew_until_done(self, key: str) -> None:
        while key in self.live:
            await anyio.sleep(self.claim_ttl / 3)
            await self._renew(key)

    async def renew_forever(self) -> None:
        """Renew every live claim every third of ``claim_ttl`` (the lifespan runs this)."""
        while True:
            await anyio.sleep(self.claim_ttl / 3)
            for key in list(self.live):
                await self._renew(key)


async def _await(result: Awaitable[Any]) -> Any:
    return await result
