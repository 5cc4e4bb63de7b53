"""``webhook_app``: the ASGI application that receives OK's webhook POSTs for a bot.

It runs under any ASGI server (uvicorn, hypercorn...) on asyncio or trio: the concurrency is
anyio's (a :class:`anyio.CapacityLimiter` for the handler slots, a task group for background
handlers, cancel scopes for the deadlines). For each POST it checks the source address, reads
and parses the body, drops a repeat of an event already handled (OK redelivers anything not
answered ``200`` within 5 seconds, docs/protocol.md §11.10), and hands the event to the user's
handler, or to a router's ``feed(event, bot)``.

When it answers ``200`` is the ``answer`` option:

* ``"at_once"`` (the default): as soon as the event is accepted; the handler runs afterwards,
  so a slow handler never delays the answer, but an event whose handler fails after the 200 is
  lost (OK will not deliver it again).
* ``"after_handler"``: once the handler returned, if that is within ``answer_within`` seconds
  (under OK's 5); a handler that raised is answered 500, and one still running at the deadline
  503, so OK delivers the event again (a handler still running finishes in the background, and
  the redelivery then finds it done). For short handlers that must not lose an event.

"Handled" is recorded once the handler returns: in this process (the last ``dedup_window``
event ids), and, with ``store=`` (an :class:`~okru_proto.adapter.OnceStore`: okru_stores'
``SQLiteStore``/``RedisStore``), in a record every server behind a load balancer shares: the
event is claimed there before its handler runs, so OK's redelivery reaching another server
finds it claimed or done and is not handled twice. A handler that fails releases its claim, so
a redelivery runs it again.

Bounded in every dimension:

* bytes: a body over ``max_body`` is answered 413;
* concurrency: at most ``max_handlers`` handlers run at once; an event that finds them all
  busy waits up to ``slot_wait`` seconds for one (holding OK's request open), else it is
  answered 503 and not remembered, so OK brings it again later. The app keeps no queue;
* time: a handler runs at most ``handler_timeout`` seconds, then it is cancelled and a WARNING
  says so;
* shutdown: when the server runs the ASGI lifespan protocol (uvicorn and hypercorn do by
  default), handlers run in a task group that lives as long as the server; at shutdown the app
  waits up to ``shutdown_timeout`` seconds for them, then cancels the rest and logs how many.
  Without lifespan a handler runs in its request's task after the answer, still bounded by
  ``handler_timeout`` (the server's shutdown then waits for it that long).
"""

from __future__ import annotations

import logging
import math
import os
import platform
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, Protocol

import anyio
import anyio.abc

from okru_proto.adapter import OnceStore
from okru_proto.bots import (
    OK_WEBHOOK_NETWORKS,
    DedupWindow,
    WebhookError,
    WebhookEvent,
    event_key,
    parse_webhook,
)
from okru_proto.errors import UsageError

from ._asgi import BodyTooLarge, Receive, Scope, Send, read_body, reply
from ._peers import Address, Network, SourceCheck, networks

__all__ = ["EventRouter", "WebhookApp", "webhook_app"]

log = logging.getLogger("okru.webhook")

#: A webhook body larger than this is refused with 413 (OK's events are small JSON objects).
MAX_BODY = 1 << 20
#: Handlers running at once by default.
MAX_HANDLERS = 64
#: Seconds an event waits for a free handler slot by default before it is answered 503. OK wants
#: its answer within 5 seconds (docs/protocol.md §11.10); 2 leaves room for the network and the body.
SLOT_WAIT = 2.0
#: The status for "not now": OK redelivers on any status but 200 (§11.10).
BUSY_STATUS = 503
#: The status of ``answer="after_handler"`` for a handler that raised (OK redelivers it too).
FAILED_STATUS = 500
#: Seconds one handler may run by default before it is cancelled.
HANDLER_TIMEOUT = 60.0
#: Seconds the app waits for running handlers at shutdown by default before cancelling them.
SHUTDOWN_TIMEOUT = 5.0
#: ``answer="after_handler"``: seconds from the request's arrival to the answer by default. OK
#: wants it within 5 (§11.10); the rest is for the network.
ANSWER_WITHIN = 4.0
#: ``store=``: seconds a "handled" record is kept. OK retries a delivery for up to 8 hours
#: (§11.10), so a record kept 9 hours outlives every redelivery of its event.
KEEP_HANDLED = 9 * 3600.0
#: ``store=``: seconds a claim outlives the handler's own deadline (the store's round trips, the
#: answer). A server killed while it holds a claim blocks that event this long at most; OK's
#: next tries (answered 503 meanwhile) then run it elsewhere.
CLAIM_MARGIN = 30.0
#: ``store=`` with ``handler_timeout=None``: how long a claim lasts.
CLAIM_WITHOUT_TIMEOUT = 3600.0
#: Seconds recording an outcome in the store may take, even while the app shuts down.
RECORD_TIMEOUT = 10.0
#: The store keys' prefix: the once records of other apps (payments) share the store's namespace.
STORE_PREFIX = "okru.webhook:"
#: What the app answers a body it cannot read as an event (the reason follows).
_EXPECTED = "an OK.ru webhook event: a JSON object, Content-Type application/json"
#: The recorded outcome of a handled event.
_HANDLED = "handled"

Handler = Callable[[WebhookEvent], Any]
Answer = Literal["at_once", "after_handler"]


class EventRouter(Protocol):
    """What ``webhook_app`` accepts in place of a handler: an object with ``async feed(event,
    bot) -> bool`` (``okru_proto.bots.Router``; True when one of its handlers matched)."""

    def feed(self, event: WebhookEvent, bot: Any, /) -> Awaitable[bool]: ...


# Precomputed replies: the hot path builds no header list of its own (ASGI servers copy them).
_EMPTY = ((b"content-length", b"0"),)
_START_200: dict[str, Any] = {"type": "http.response.start", "status": 200, "headers": _EMPTY}
_BODY_EMPTY: dict[str, Any] = {"type": "http.response.body", "body": b""}


async def _ok(send: Send) -> None:
    await send(dict(_START_200))
    await send(dict(_BODY_EMPTY))


def _seconds(value: object, name: str, *, upper: float = math.inf, none: bool = False,
             positive: bool = False) -> float | None:
    if value is None and none:
        return None
    number = value if type(value) in (int, float) else math.nan
    assert isinstance(number, (int, float))
    if not (0 < number < upper if positive else 0 <= number < upper):  # NaN fails both
        low = "(0" if positive else "[0"
        bound = f"{low}, {upper:g})" if upper != math.inf else ("> 0" if positive else ">= 0")
        raise UsageError(f"{name} is seconds {bound}{' or None' if none else ''}, not {value!r}")
    return float(number)


class _Seen:
    """This process's record of events, by :func:`event_key`: ``done`` (the last ``size`` keys
    handled) and ``running`` (keys whose handler runs now). ``size`` 0 keeps nothing."""

    __slots__ = ("done", "running", "size")

    def __init__(self, size: int) -> None:
        self.done = DedupWindow(size)
        self.size = size
        self.running: set[str] = set()

    def claim(self, key: str) -> Literal["claimed", "busy", "done"]:
        if not self.size:
            return "claimed"
        if key in self.done:
            return "done"
        if key in self.running:
            return "busy"
        self.running.add(key)
        return "claimed"

    def finish(self, key: str) -> None:
        self.running.discard(key)
        self.done.seen(key)

    def release(self, key: str) -> None:
        self.running.discard(key)


class _Outcome:
    """How one handler ended, for ``answer="after_handler"``: ``done`` is set when it has."""

    __slots__ = ("done", "ok")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.ok = False


class WebhookApp:
    """The ASGI app :func:`webhook_app` returns. ``stats`` counts what it did (received,
    dispatched, duplicates, refused, invalid, busy, handler_errors, timeouts, cancelled, late,
    unmatched, store_errors); ``running`` is the number of handlers running now and ``waiting``
    the number of events waiting for one to finish."""

    def __init__(self, handler: Handler | EventRouter, *, bot: Any = None, store: OnceStore | None = None,
                 answer: Answer = "at_once", answer_within: float = ANSWER_WITHIN,
                 allowed_networks: Iterable[str | Network] | None,
                 trusted_proxies: Iterable[str | Network], dedup_window: int, max_body: int,
                 max_handlers: int = MAX_HANDLERS, slot_wait: float = SLOT_WAIT,
                 handler_timeout: float | None = HANDLER_TIMEOUT,
                 shutdown_timeout: float = SHUTDOWN_TIMEOUT) -> None:
        feed = getattr(handler, "feed", None)
        if callable(feed):
            self._call: Callable[[WebhookEvent], Any] = lambda event: feed(event, bot)
            self._router = True
        elif callable(handler):
            if bot is not None:
                raise UsageError("bot= is passed to a router's feed(event, bot); a handler function "
                                 "takes only the event (use the bot from its closure)")
            self._call = handler
            self._router = False
        else:
            raise UsageError("webhook_app needs a handler (async def handler(event): ...) or a router "
                             f"(an object with async feed(event, bot)), not {type(handler).__name__}")
        self.handler = handler
        self.bot = bot
        if store is not None and not isinstance(store, OnceStore):
            raise UsageError("store= is a once store with claim/finish/release (okru_stores' SQLiteStore, "
                             f"RedisStore or MemoryStore), not {type(store).__name__}")
        self.store = store
        if answer not in ("at_once", "after_handler"):
            raise UsageError(f"answer is 'at_once' or 'after_handler', not {answer!r}")
        self.answer: Answer = answer
        self.answer_within = _seconds(answer_within, "answer_within (OK wants its answer within 5 seconds)",
                                      upper=5, positive=True)
        self.sources = SourceCheck(allowed_networks, trusted_proxies, log=log)
        if type(dedup_window) is not int or dedup_window < 0:
            raise UsageError(f"dedup_window is a number of events >= 0, not {dedup_window!r}")
        self._seen = _Seen(dedup_window)
        self.dedup = self._seen.done
        if type(max_body) is not int or max_body < 1:
            raise UsageError("max_body is a number of bytes >= 1")
        self.max_body = max_body
        if type(max_handlers) is not int or max_handlers < 1:
            raise UsageError(f"max_handlers is a number of handlers running at once >= 1, not {max_handlers!r}")
        self.max_handlers = max_handlers
        self.slot_wait = _seconds(slot_wait, "slot_wait (OK wants its answer within 5 seconds)", upper=5)
        self.handler_timeout = _seconds(handler_timeout, "handler_timeout", none=True, positive=True)
        self.shutdown_timeout = _seconds(shutdown_timeout, "shutdown_timeout")
        self.stats = dict.fromkeys(("received", "dispatched", "duplicates", "refused", "invalid", "busy",
                                    "handler_errors", "timeouts", "cancelled", "late", "unmatched",
                                    "store_errors"), 0)
        # Who holds this server's claims in a shared store: unique per app, so two servers (or
        # two apps of one process) never renew each other's claims.
        self.holder = f"{platform.node()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._claim_ttl = (CLAIM_WITHOUT_TIMEOUT if self.handler_timeout is None else self.handler_timeout) \
            + CLAIM_MARGIN + (self.answer_within or 0)
        # Made on first use, inside the server's loop (anyio's primitives belong to a loop).
        self._limiter: anyio.CapacityLimiter | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        self._idle: anyio.Event | None = None
        # With lifespan: each running handler's deadline and cancel scope, for the watchdog.
        self._deadlines: dict[object, tuple[float, anyio.CancelScope]] | None = None

    @property
    def running(self) -> int:
        """Handlers running now (never more than ``max_handlers``)."""
        return 0 if self._limiter is None else int(self._limiter.borrowed_tokens)

    @property
    def waiting(self) -> int:
        """Events held open now, waiting for a handler slot (each at most ``slot_wait``)."""
        return 0 if self._limiter is None else self._limiter.statistics().tasks_waiting

    @property
    def allowed(self) -> tuple[Network, ...] | None:
        """The accepted source networks (``None``: any); may be replaced while serving."""
        return self.sources.allowed

    @allowed.setter
    def allowed(self, value: Iterable[str | Network] | None) -> None:
        self.sources.allowed = None if value is None else networks(value, "allowed_networks")

    def client_address(self, scope: Scope) -> Address | None:
        """Who sent the request (see :class:`okru_asgi._peers.SourceCheck`)."""
        return self.sources.client_address(scope)

    # -- ASGI ----------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        stats = self.stats
        if scope.get("method") != "POST":
            await reply(send, 405, b"OK.ru webhooks are POSTs\n", ((b"allow", b"POST"),))
            return
        sources = self.sources
        if sources.allowed is not None and not sources.allows(scope):
            stats["refused"] += 1
            await reply(send, 403)
            return
        started = anyio.current_time() if self.answer == "after_handler" else 0.0
        try:
            body = await read_body(receive, self.max_body)
        except BodyTooLarge:
            stats["invalid"] += 1
            await reply(send, 413, f"a webhook body is at most {self.max_body} bytes\n".encode())
            return
        if body is None:
            return  # the sender went away
        stats["received"] += 1
        headers: dict[str, str] | None = None
        for name, value in scope.get("headers") or ():
            if name == b"content-type" or name.lower() == b"content-type":
                # The usual type needs no check (parse_webhook would pass it): skip building one.
                if value != b"application/json":
                    headers = {"content-type": value.decode("latin-1")}
                break
        try:
            event = parse_webhook(body, headers)
        except WebhookError as exc:
            stats["invalid"] += 1
            # Say why, to the sender and in the log: a first try with curl's default form type
            # should not meet a silent 400. The text is okru's own, never the body's.
            log.warning("webhook: answered 400 to a body that is not %s: %s", _EXPECTED, exc)
            await reply(send, 400, f"expected {_EXPECTED}: {exc}\n".encode())
            return
        key = event_key(event)
        if key is not None and key in self.dedup:  # a repeat handled here: no slot, no store
            stats["duplicates"] += 1
            await _ok(send)
            return
        # Wait for a handler slot before answering: holding the request open is the backpressure
        # OK sees; a 503 makes it deliver again later (any status but 200 is retried, §11.10).
        # The event is claimed only once it has a slot, so that redelivery is not taken for a repeat.
        token = object()
        limiter = self._limiter or self._limit()
        try:
            limiter.acquire_on_behalf_of_nowait(token)  # a free slot: the usual case, no wait
            taken = True
        except anyio.WouldBlock:
            taken = await self._take_slot(token)
        if not taken:
            stats["busy"] += 1
            log.warning("webhook: no handler slot freed within %.1f s (max_handlers=%d); a %s event "
                        "answered %d so OK delivers it again", self._slot_wait(), self.max_handlers,
                        event.type or "untyped", BUSY_STATUS)
            await reply(send, BUSY_STATUS)
            return
        if key is None:
            verdict = "claimed"
        elif self.store is None:
            verdict = self._seen.claim(key)
        else:
            verdict = await self._claim(key)
        if verdict != "claimed":
            self._give_back(token)
            if verdict == "done" or (verdict == "busy" and self.answer == "at_once"):
                # A repeat: handled, or (at once) accepted and answered 200 already.
                stats["duplicates"] += 1
                await _ok(send)
            else:  # running elsewhere (its outcome is not known yet), or the store failed
                stats["busy"] += 1
                await reply(send, BUSY_STATUS)
            return
        stats["dispatched"] += 1
        if self.answer == "after_handler":
            await self._answer_after_handler(event, key, token, send, started)
            return
        tasks = self._tasks
        if tasks is not None:
            try:
                tasks.start_soon(self._handle, event, key, token, None)
            except BaseException:
                await self._record(key, False)
                self._give_back(token)
                raise
            await _ok(send)
        else:
            # No lifespan, so no task outlives this request: answer, then run the handler here.
            try:
                await _ok(send)
            finally:
                await self._handle(event, key, token, None)

    async def _answer_after_handler(self, event: WebhookEvent, key: str | None, token: object, send: Send,
                                    started: float) -> None:
        outcome = _Outcome()
        tasks = self._tasks
        if tasks is not None:
            try:
                tasks.start_soon(self._handle, event, key, token, outcome)
            except BaseException:
                await self._record(key, False)
                self._give_back(token)
                raise
            await self._reply_outcome(send, event, outcome, started)
        else:
            # No lifespan: a handler still running at the answer's deadline finishes in this
            # request's task group after the 503.
            async with anyio.create_task_group() as handlers:
                handlers.start_soon(self._handle, event, key, token, outcome)
                await self._reply_outcome(send, event, outcome, started)

    async def _reply_outcome(self, send: Send, event: WebhookEvent, outcome: _Outcome, started: float) -> None:
        assert self.answer_within is not None
        with anyio.move_on_after(self.answer_within - (anyio.current_time() - started)):
            await outcome.done.wait()
        if not outcome.done.is_set():
            self.stats["late"] += 1
            log.warning("webhook: a %s event's handler still runs after answer_within=%s s: answered %d so OK "
                        "delivers it again (the handler goes on; the redelivery finds it done or runs it again)",
                        event.type or "untyped", f"{self.answer_within:g}", BUSY_STATUS)
            await reply(send, BUSY_STATUS)
        elif outcome.ok:
            await _ok(send)
        else:
            await reply(send, FAILED_STATUS, b"the handler failed; OK delivers the event again\n")

    # -- once records ----------------------------------------------------------------------
    async def _claim(self, key: str) -> Literal["claimed", "busy", "done", "unavailable"]:
        verdict = self._seen.claim(key)
        store = self.store
        if verdict != "claimed" or store is None:
            return verdict
        try:
            claim = await store.aclaim(STORE_PREFIX + key, self.holder, self._claim_ttl)
        except Exception as exc:  # StoreError, or any failure of a store of the user's
            self._seen.release(key)
            self.stats["store_errors"] += 1
            log.warning("webhook: the store failed (%s: %s), so an event could not be claimed; answered %d so "
                        "OK delivers it again", type(exc).__name__, exc, BUSY_STATUS)
            return "unavailable"
        if claim.status == "done":
            self._seen.finish(key)
        elif claim.status == "busy":
            self._seen.release(key)
        return claim.status

    async def _record(self, key: str | None, handled: bool) -> None:
        """The handler's end, in this process and the store: handled (done for good), or not
        (the claim is released: a redelivery runs it again)."""
        if key is None:
            return
        store = self.store
        if store is not None:  # (without a store, _handle records in this process itself)
            # Shielded: a handler cancelled at shutdown still gives its claim back.
            with anyio.CancelScope(shield=True) as scope:
                scope.deadline = anyio.current_time() + RECORD_TIMEOUT
                try:
                    if handled:
                        await store.afinish(STORE_PREFIX + key, self.holder, _HANDLED, KEEP_HANDLED)
                    else:
                        await store.arelease(STORE_PREFIX + key, self.holder)
                except Exception as exc:
                    self.stats["store_errors"] += 1
                    log.error("webhook: the store failed (%s: %s) recording a handled event; another server may "
                              "handle OK's redelivery of it again" if handled else
                              "webhook: the store failed (%s: %s) releasing a failed event's claim; it runs again "
                              "when the claim expires", type(exc).__name__, exc)
            if scope.cancelled_caught:
                self.stats["store_errors"] += 1
                log.error("webhook: the store did not answer within %s s recording an event", f"{RECORD_TIMEOUT:g}")
        if handled:
            self._seen.finish(key)
        else:
            self._seen.release(key)

    # -- handler slots -------------------------------------------------------------------
    def _limit(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.max_handlers)
        return self._limiter

    def _slot_wait(self) -> float:
        wait = self.slot_wait or 0.0
        # Answering after the handler, the wait comes out of the same budget as the handler's.
        return min(wait, self.answer_within or 0.0) if self.answer == "after_handler" else wait

    async def _take_slot(self, token: object) -> bool:
        """Wait up to ``slot_wait`` for a slot held on behalf of ``token``; True if taken.
        anyio's limiter serves waiters first come, first served (a burst cannot starve an early
        event) and gives a slot handed to a waiter cancelled at that moment to the next one."""
        with anyio.move_on_after(self._slot_wait()):
            await self._limit().acquire_on_behalf_of(token)
            return True
        return False

    def _give_back(self, token: object) -> None:
        limiter = self._limit()
        limiter.release_on_behalf_of(token)
        if not limiter.borrowed_tokens and self._idle is not None:
            self._idle.set()

    async def _handle(self, event: WebhookEvent, key: str | None, token: object, outcome: _Outcome | None) -> None:
        handled = False
        result: Any = None
        # The watchdog runs in the lifespan's task group, for the handlers that run there.
        deadlines = self._deadlines if self._tasks is not None else None
        try:
            with anyio.CancelScope() as scope:
                if self.handler_timeout is not None:
                    if deadlines is not None:  # the watchdog cancels it: no timer per handler
                        deadlines[token] = (anyio.current_time() + self.handler_timeout, scope)
                    else:
                        scope.deadline = anyio.current_time() + self.handler_timeout
                result = self._call(event)
                if hasattr(result, "__await__"):
                    result = await result
                handled = True
            if scope.cancelled_caught:
                self.stats["timeouts"] += 1
                log.warning("webhook handler cancelled after handler_timeout=%s s on a %s event (%s)",
                            f"{self.handler_timeout:g}", event.type or "untyped",
                            "answered 200 already: OK will not deliver it again" if outcome is None
                            else "not handled: OK delivers it again")
            elif result is False and self._router:
                self.stats["unmatched"] += 1
                log.debug("webhook: no handler of the router matched a %s event", event.type or "untyped")
        except Exception:
            # A bug in the bot must not take the server down.
            self.stats["handler_errors"] += 1
            log.exception("webhook handler failed on a %s event%s", event.type or "untyped",
                          " (answered 200 already: OK will not deliver it again)" if outcome is None
                          else "; answered 500 so OK delivers it again")
        finally:
            if deadlines is not None:
                deadlines.pop(token, None)
            try:
                if self.store is not None:
                    await self._record(key, handled)
                elif key is not None:
                    if handled:
                        self._seen.finish(key)
                    else:
                        self._seen.release(key)
            finally:
                self._give_back(token)
                if outcome is not None:
                    outcome.ok = handled
                    outcome.done.set()

    async def _watchdog(self) -> None:
        """Cancels each handler at its deadline (with lifespan). One timer for all of them: the
        handlers share one timeout, so their deadlines come in the order they started (a dict
        keeps it), and the next to pass is always the first still running."""
        deadlines = self._deadlines
        assert deadlines is not None and self.handler_timeout is not None
        while True:
            now = anyio.current_time()
            wake = now + self.handler_timeout  # no handler that starts later ends earlier
            for deadline, scope in deadlines.values():
                if deadline > now:
                    wake = deadline
                    break
                scope.cancel()  # it leaves the dict when it ends
            await anyio.sleep_until(wake)

    # -- lifespan ------------------------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message.get("type") != "lifespan.startup":
            return
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            if self.handler_timeout is not None:
                self._deadlines = {}
                tasks.start_soon(self._watchdog)
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            self._tasks = None
            await self._drain(tasks)
            tasks.cancel_scope.cancel()  # the watchdog
        self._deadlines = None
        await send({"type": "lifespan.shutdown.complete"})

    async def _drain(self, tasks: anyio.abc.TaskGroup) -> None:
        """Give running handlers ``shutdown_timeout`` seconds, then cancel the rest."""
        if self.running:
            self._idle = anyio.Event()
            with anyio.move_on_after(self.shutdown_timeout or 0):
                await self._idle.wait()
        if self.running:
            self.stats["cancelled"] += self.running
            log.warning("webhook: shutting down with %d handler(s) still running after "
                        "shutdown_timeout=%s s: cancelled", self.running, f"{self.shutdown_timeout:g}")
            tasks.cancel_scope.cancel()


def webhook_app(handler: Handler | EventRouter, *, bot: Any = None, store: OnceStore | None = None,
                answer: Answer = "at_once", answer_within: float = ANSWER_WITHIN,
                allowed_networks: Iterable[str | Network] | None = OK_WEBHOOK_NETWORKS,
                trusted_proxies: Iterable[str | Network] = (), dedup_window: int = 10_000,
                max_body: int = MAX_BODY, max_handlers: int = MAX_HANDLERS, slot_wait: float = SLOT_WAIT,
                handler_timeout: float | None = HANDLER_TIMEOUT,
                shutdown_timeout: float = SHUTDOWN_TIMEOUT) -> WebhookApp:
    """An ASGI app that receives OK's webhooks and calls ``await handler(event)`` for each, or
    ``await router.feed(event, bot)`` when given a router (any object with that ``feed``).

    ``store``: a shared once store (okru_stores' ``SQLiteStore``/``RedisStore``): an event is
    handled once across every server using it. ``answer``: ``"at_once"`` (200 before the
    handler runs) or ``"after_handler"`` (200 once it returned within ``answer_within``
    seconds, else 503, and 500 if it raised: OK then delivers the event again).
    ``allowed_networks``: source addresses accepted (default: OK's three published ranges;
    ``None`` accepts any, e.g. for local tests or when a proxy you trust already checked).
    ``trusted_proxies``: peers whose ``X-Forwarded-For`` is believed (your reverse proxy).
    ``dedup_window``: how many recent event ids this process remembers to drop OK's
    redeliveries (0 turns it off). ``max_handlers``: how many handlers run at once; an event
    that finds them all busy waits up to ``slot_wait`` seconds (0 to 5, default 2) for one,
    else it is answered 503 and OK delivers it again. ``handler_timeout``: seconds a handler
    may run before it is cancelled (``None``: no limit). ``shutdown_timeout``: seconds the
    server's shutdown waits for running handlers before cancelling them.
    """
    return WebhookApp(handler, bot=bot, store=store, answer=answer, answer_within=answer_within,
                      allowed_networks=allowed_networks, trusted_proxies=trusted_proxies,
                      dedup_window=dedup_window, max_body=max_body, max_handlers=max_handlers,
                      slot_wait=slot_wait, handler_timeout=handler_timeout, shutdown_timeout=shutdown_timeout)
