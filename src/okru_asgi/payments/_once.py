"""Running a game's payment handler at most once per transaction, across every process that
shares a store (docs/protocol.md §13.6): claims, their renewal, the handler's deadline, the
outcome recorded for OK's repeats, and the bound on handlers running at once.

* A transaction's key is claimed in the store for ``claim_ttl`` seconds before the handler runs;
  while it runs, the claim is renewed every third of that. Under the ASGI lifespan (uvicorn and
  hypercorn run it by default) one task of the app (:meth:`OnceRunner.watch`) renews every live
  claim and cancels every handler past its deadline, checking every third of ``claim_ttl`` (at
  most a quarter of ``timeout``), so a request costs neither a task nor a timer of its own;
  without the lifespan, each request renews its own claim in a task group and has its own timer.
* A repeat finding the key claimed by another holder waits up to ``busy_wait`` for an outcome,
  then gets SERVICE (2): OK comes back 5 s later.
* At most ``max_handlers`` handlers run at once (``_slots``).
* ``timeout`` bounds the wait for the handler. An ``async`` handler is cancelled at the deadline
  (nothing recorded, the claim released: like a crash). A plain function runs in a worker thread,
  which cannot be stopped: past the deadline OK gets SERVICE (2), the thread keeps the claim
  (renewed) and records its own outcome, through the store's blocking methods, when it returns.
"""

from __future__ import annotations

import inspect
import itertools
import json
import logging
import os
import secrets
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from okru_proto._flow import is_async_callable
from okru_proto.apps import (
    SERVICE,
    Payment,
    PaymentRejected,
    PaymentReply,
    ReplyFormat,
    error_reply,
    payment_reply,
)
from okru_stores import Claim, OnceStore

from ._memory import ProcessOnceStore
from ._slots import Slots

__all__ = ["OnceRunner"]

log = logging.getLogger("okru.payments")

Handler = Callable[[Payment], Any]


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


class _Live:
    """A handler running now: its claim (``key``, None when not keyed, and ``holder``), its
    ``transaction``, the ``scope`` it runs in and its ``deadline``."""

    __slots__ = ("deadline", "holder", "key", "scope", "transaction")

    def __init__(self, key: str | None, holder: str, transaction: str, scope: anyio.CancelScope,
                 deadline: float) -> None:
        self.key = key
        self.holder = holder
        self.transaction = transaction
        self.scope = scope
        self.deadline = deadline


class OnceRunner:
    """Runs ``handler`` at most once per key: :meth:`run` for each payment, and
    :meth:`watch` in the server's lifespan. ``stats`` is the app's counter dict."""

    def __init__(self, handler: Handler, store: OnceStore, *, format: ReplyFormat, timeout: float,
                 busy_wait: float, claim_ttl: float, keep: float, max_handlers: int,
                 stats: dict[str, int]) -> None:
        self.handler = handler
        # The core's one test of "awaitable handler" (a partial or a callable object counts too):
        # such a handler runs on the server's loop, anything else in a worker thread.
        self.is_async = is_async_callable(handler)
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
        self._credited = _Ended(self._success, final=True)  # the common end, made once
        # The default store is called directly: its async twins only wrap these, and two
        # coroutines fewer per payment is a measurable part of its cost (benchmarks/apps.py).
        self._memory = store if type(store) is ProcessOnceStore else None
        self._holders = itertools.count(1)
        self._prefix = f"{os.getpid()}.{secrets.token_hex(6)}"
        #: Handlers running now, by holder (renewed and timed out by watch under the lifespan).
        self.live: dict[str, _Live] = {}
        #: True while the lifespan's watch runs (then requests renew and time out nothing themselves).
        self.renewing = False
        #: Seconds between two rounds of watch: renewals and deadlines.
        self.tick = min(claim_ttl / 3, timeout / 4)
        self._slots = Slots(max_handlers)
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

    # -- one payment -------------------------------------------------------------------------
    async def run(self, payment: Payment, key: str | None, answer: Callable[[PaymentReply], Awaitable[None]]) -> None:
        """Handle ``payment`` (keyed by ``key``; None: never de-duplicated) and ``answer`` OK."""
        deadline = anyio.current_time() + self.timeout
        if not self._slots.take() and not await self._slots.wait(deadline):
            self.stats["busy"] += 1
            log.warning("payments_app: no handler slot freed within %.1f s (max_handlers=%d); answered "
                        "SERVICE (2) so OK tries again", self.timeout, self.max_handlers)
            await answer(self.service)
            return
        try:
            holder = f"{self._prefix}.{next(self._holders)}"
            if key is not None:
                claim = await self._claim(key, holder, payment.transaction_id)
                if claim is None or claim.status != "claimed":
                    reply = await self._not_claimed(claim, key, holder, payment.transaction_id, deadline)
                    if reply is not None:
                        await answer(reply)
                        return
            # Under the lifespan, watch() cancels the scope past the deadline; else its own timer.
            scope = anyio.CancelScope() if self.renewing else anyio.CancelScope(deadline=deadline)
            live = self.live[holder] = _Live(key, holder, payment.transaction_id, scope, deadline)
            if self.renewing or key is None:
                await answer((await self._work(payment, live))[0].reply)
                return
            async with anyio.create_task_group() as tasks:  # no lifespan: this request renews its claim
                tasks.start_soon(self._renew_until_done, live)
                ended, job = await self._work(payment, live)
                await answer(ended.reply)
                if job is None:
                    tasks.cancel_scope.cancel()
                # else: a thread past the deadline; renewing stops once it recorded (live entry gone)
        finally:
            self._slots.give()

    async def _not_claimed(self, claim: Claim | None, key: str, holder: str, transaction: str,
                           deadline: float) -> PaymentReply | None:
        """The key was not simply claimed: the answer to give (a recorded outcome, SERVICE), or
        None once this request holds the key after waiting for another holder."""
        busy_until = 0.0
        delay = 0.05
        while True:
            if claim is None:  # the store failed (logged)
                self.stats["failed"] += 1
                return self.service
            if claim.status == "claimed":
                return None
            if claim.status == "done":
                self.stats["repeats"] += 1
                return self.recorded(claim.outcome, transaction)
            now = anyio.current_time()
            if not busy_until:
                busy_until = min(now + self.busy_wait, deadline)
            if now + delay > busy_until:
                # Another process runs this transaction's handler now: OK's next try (5 s on)
                # finds its outcome, or the key free if that process died.
                self.stats["busy"] += 1
                log.info("payments_app: transaction %r is being handled by another server; answered SERVICE "
                         "(2) so OK tries again", transaction)
                return self.service
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.5)
            claim = await self._claim(key, holder, transaction)

    async def _claim(self, key: str, holder: str, transaction: str) -> Claim | None:
        try:
            if self._memory is not None:
                return self._memory.claim(key, holder, self.claim_ttl)
            return await self.store.aclaim(key, holder, self.claim_ttl)
        except Exception:
            log.exception("payments_app: the store could not claim transaction %r; answered SERVICE (2) so OK "
                          "tries again", transaction)
            return None

    async def _work(self, payment: Payment, live: _Live) -> tuple[_Ended, _ThreadJob | None]:
        """Run the handler within its deadline and record (or release) its outcome; the answer
        for OK, and the job of a thread still running past the deadline (which records itself)."""
        transaction = payment.transaction_id
        if self.is_async:
            ended: _Ended | None = None
            with live.scope:
                try:
                    result = self.handler(payment)
                    if inspect.isawaitable(result):
                        await result
                except PaymentRejected as exc:
                    ended = self._rejected(exc)
                except Exception:
                    ended = self._failed(payment)
                else:
                    self.stats["credited"] += 1
                    ended = self._credited
            if ended is None:
                self.stats["timeouts"] += 1
                log.warning("payments_app: the handler ran past timeout=%.1f s on transaction %r and was "
                            "cancelled; answered SERVICE (2) so OK tries again", self.timeout, transaction)
                ended = _Ended(self.service, final=False)
            await self._record(live, ended)
            return ended, None
        job = _ThreadJob()
        loop = anyio.lowlevel.current_token()
        if self._threads is None or self._threads[0] is not loop:
            self._threads = (loop, anyio.CapacityLimiter(self.max_handlers))
        with live.scope:
            await anyio.to_thread.run_sync(self._call_in_thread, payment, live, job,
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
        await self._record(live, result)
        return result, None

    def _call_in_thread(self, payment: Payment, live: _Live, job: _ThreadJob) -> None:
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
            ended = self._credited
        with job.lock:
            job.ended = ended
            abandoned = job.abandoned
        if abandoned:  # the request answered SERVICE at its deadline: record here
            self._record_blocking(live, ended)
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
    async def _record(self, live: _Live, ended: _Ended) -> None:
        key = live.key
        try:
            if key is None:
                return
            if ended.final:
                outcome = self._success_outcome if ended is self._credited else self.outcome(ended.reply)
                if self._memory is not None:
                    first = self._memory.finish(key, live.holder, outcome, self.keep)
                else:
                    first = await self.store.afinish(key, live.holder, outcome, self.keep)
                self._after_finish(first, live.transaction)
            else:
                await self.store.arelease(key, live.holder)
        except Exception:
            self._store_failed(ended, live.transaction)
        finally:
            self.live.pop(live.holder, None)

    def _record_blocking(self, live: _Live, ended: _Ended) -> None:
        key = live.key
        try:
            if key is None:
                return
            if ended.final:
                self._after_finish(self.store.finish(key, live.holder, self.outcome(ended.reply), self.keep),
                                   live.transaction)
            else:
                self.store.release(key, live.holder)
        except Exception:
            self._store_failed(ended, live.transaction)
        finally:
            self.live.pop(live.holder, None)

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

    # -- renewing claims, and deadlines under the lifespan ---------------------------------------
    async def _renew(self, live: _Live) -> None:
        key = live.key
        if key is None or live.holder not in self.live:
            return
        try:
            claim = await self.store.aclaim(key, live.holder, self.claim_ttl)
        except Exception:
            log.warning("payments_app: could not renew the claim on transaction %r (the store failed)",
                        live.transaction, exc_info=True)
            return
        if claim.status == "claimed":
            if live.holder not in self.live:  # its work ended (released) while this renewal was on the way
                await self.store.arelease(key, live.holder)
            return
        if self.live.pop(live.holder, None) is not None and claim.status == "busy":
            log.error("payments_app: lost the claim on transaction %r while its handler runs: another server "
                      "may run it too", live.transaction)

    async def _renew_until_done(self, live: _Live) -> None:
        while live.holder in self.live:
            await anyio.sleep(self.claim_ttl / 3)
            await self._renew(live)

    async def watch(self) -> None:
        """Under the lifespan: every :attr:`tick` seconds, cancel the handlers past their deadline,
        and every third of ``claim_ttl`` renew every live claim."""
        renewed = anyio.current_time()
        while True:
            await anyio.sleep(self.tick)
            now = anyio.current_time()
            for live in list(self.live.values()):
                if now >= live.deadline:
                    live.scope.cancel()
            if now - renewed >= self.claim_ttl / 3 - 1e-9:
                renewed = now
                for live in list(self.live.values()):
                    await self._renew(live)


async def _await(result: Awaitable[Any]) -> Any:
    return await result
