"""``webhook_app``: the ASGI application that receives OK's webhook POSTs for a bot.

It runs under any ASGI server (uvicorn, hypercorn...) on asyncio or trio: the concurrency is
anyio's (a :class:`anyio.CapacityLimiter` for the handler slots, a task group for background
handlers, cancel scopes for the deadlines). For each POST it checks the source address, reads
and parses the body, answers ``200`` (OK wants a 200 within 5 seconds and redelivers anything
else, docs/protocol.md §11.10), drops a repeat of an event already seen (OK's redeliveries),
and hands the event to the user's handler in the background, so a slow handler never delays
the answer.

Bounded in every dimension:

* bytes: a body over ``max_body`` is answered 413;
* concurrency: at most ``max_handlers`` handlers run at once; an event that finds them all
  busy waits up to ``slot_wait`` seconds for one (holding OK's request open), else it is
  answered 503 and not remembered, so OK brings it again later. The app keeps no queue;
* time: a handler runs at most ``handler_timeout`` seconds, then it is cancelled and a WARNING
  says so (the event got its 200: it is not redelivered);
* shutdown: when the server runs the ASGI lifespan protocol (uvicorn and hypercorn do by
  default), handlers run in a task group that lives as long as the server; at shutdown the app
  waits up to ``shutdown_timeout`` seconds for them, then cancels the rest and logs how many.
  Without lifespan a handler runs in its request's task after the 200 has been sent, still
  bounded by ``handler_timeout``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

import anyio

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
from ._peers import Address, Network, SourceCheck

__all__ = ["WebhookApp", "webhook_app"]

log = logging.getLogger("okru.webhook")

#: A webhook body larger than this is refused with 413 (OK's events are small JSON objects).
MAX_BODY = 1 << 20
#: Handlers running at once by default.
MAX_HANDLERS = 64
#: Seconds an event waits for a free handler slot by default before it is answered 503. OK wants
#: its answer within 5 seconds (docs/protocol.md §11.10); 2 leaves room for the network and the body.
SLOT_WAIT = 2.0
#: The status for "no handler slot freed in time": OK redelivers on any status but 200.
BUSY_STATUS = 503
#: Seconds one handler may run by default before it is cancelled.
HANDLER_TIMEOUT = 60.0
#: Seconds the app waits for running handlers at shutdown by default before cancelling them.
SHUTDOWN_TIMEOUT = 5.0
#: What the app answers a body it cannot read as an event (the reason follows).
_EXPECTED = "an OK.ru webhook event: a JSON object, Content-Type application/json"

Handler = Callable[[WebhookEvent], Any]


def _seconds(value: object, name: str, *, upper: float = math.inf, none: bool = False) -> float | None:
    if value is None and none:
        return None
    if type(value) not in (int, float) or not math.isfinite(value) or not 0 <= value < upper:  # type: ignore[operator, arg-type]
        bound = f"[0, {upper:g})" if upper != math.inf else ">= 0"
        raise UsageError(f"{name} is seconds {bound}{' or None' if none else ''}, not {value!r}")
    return float(value)  # type: ignore[arg-type]


class WebhookApp:
    """The ASGI app :func:`webhook_app` returns. ``stats`` counts what it did (received,
    dispatched, duplicates, refused, invalid, busy, handler_errors, timeouts, cancelled);
    ``running`` is the number of handlers running now."""

    def __init__(self, handler: Handler, *, allowed_networks: Iterable[str | Network] | None,
                 trusted_proxies: Iterable[str | Network], dedup_window: int, max_body: int,
                 max_handlers: int = MAX_HANDLERS, slot_wait: float = SLOT_WAIT,
                 handler_timeout: float | None = HANDLER_TIMEOUT,
                 shutdown_timeout: float = SHUTDOWN_TIMEOUT) -> None:
        if not callable(handler):
            raise UsageError("webhook_app needs a handler: async def handler(event): ...")
        self.handler = handler
        self.sources = SourceCheck(allowed_networks, trusted_proxies, log=log, app="webhook_app")
        self.dedup = DedupWindow(dedup_window)
        if type(max_body) is not int or max_body < 1:
            raise UsageError("max_body is a number of bytes >= 1")
        self.max_body = max_body
        if type(max_handlers) is not int or max_handlers < 1:
            raise UsageError(f"max_handlers is a number of handlers running at once >= 1, not {max_handlers!r}")
        self.max_handlers = max_handlers
        self.slot_wait = _seconds(slot_wait, "slot_wait (OK wants its answer within 5 seconds)", upper=5)
        self.handler_timeout = _seconds(handler_timeout, "handler_timeout", none=True)
        self.shutdown_timeout = _seconds(shutdown_timeout, "shutdown_timeout")
        self.stats = dict.fromkeys(("received", "dispatched", "duplicates", "refused", "invalid",
                                    "busy", "handler_errors", "timeouts", "cancelled"), 0)
        # Made on first use, inside the server's loop (anyio's primitives belong to a loop).
        self._limiter: anyio.CapacityLimiter | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        self._idle: anyio.Event | None = None

    @property
    def running(self) -> int:
        """Handlers running now (never more than ``max_handlers``)."""
        return 0 if self._limiter is None else int(self._limiter.borrowed_tokens)

    @property
    def allowed(self) -> tuple[Network, ...] | None:
        """The accepted source networks (``None``: any)."""
        return self.sources.allowed

    def client_address(self, scope: Scope) -> Address | None:
        """Who sent the request (see :class:`okru_asgi._peers.SourceCheck`)."""
        return self.sources.client_address(scope)

    # -- ASGI ----------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
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
        if not self.sources.allows(scope):
            stats["refused"] += 1
            await reply(send, 403)
            return
        try:
            body = await read_body(receive, self.max_body)
        except BodyTooLarge:
            stats["invalid"] += 1
            await reply(send, 413, f"a webhook body is at most {self.max_body} bytes\n".encode())
            return
        if body is None:
            return  # the sender went away
        stats["received"] += 1
        ctype = next((value.decode("latin-1") for name, value in scope.get("headers") or ()
                      if name.lower() == b"content-type"), None)
        headers = {} if ctype is None else {"content-type": ctype}
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
        if key in self.dedup:
            stats["duplicates"] += 1
            await reply(send, 200)
            return
        # Wait for a handler slot before answering: holding the request open is the backpressure
        # OK sees; a 503 makes it deliver again later (any status but 200 is retried, §11.10).
        # The event is remembered only once accepted, so that redelivery is not taken for a repeat.
        token = object()
        if not await self._take_slot(token):
            stats["busy"] += 1
            log.warning("webhook: no handler slot freed within %.1f s (max_handlers=%d); a %s event "
                        "answered %d so OK delivers it again", self.slot_wait, self.max_handlers,
                        event.type or "untyped", BUSY_STATUS)
            await reply(send, BUSY_STATUS)
            return
        if self.dedup.seen(key):  # the same event accepted by a concurrent request while this one waited
            self._give_back(token)
            stats["duplicates"] += 1
            await reply(send, 200)
            return
        stats["dispatched"] += 1
        tasks = self._tasks
        if tasks is not None:
            try:
                tasks.start_soon(self._handle, event, token)
            except BaseException:
                self._give_back(token)
                raise
            await reply(send, 200)
        else:
            # No lifespan, so no task outlives this request: answer, then run the handler here.
            try:
                await reply(send, 200)
            finally:
                await self._handle(event, token)

    # -- handler slots -------------------------------------------------------------------
    def _limit(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.max_handlers)
        return self._limiter

    async def _take_slot(self, token: object) -> bool:
        """Wait up to ``slot_wait`` for a slot held on behalf of ``token``; True if taken.
        anyio's limiter serves waiters first come, first served, so a burst cannot starve an
        early event."""
        limiter = self._limit()
        try:
            limiter.acquire_on_behalf_of_nowait(token)
            return True
        except anyio.WouldBlock:
            pass
        with anyio.move_on_after(self.slot_wait or 0):
            await limiter.acquire_on_behalf_of(token)
            return True
        return False

    def _give_back(self, token: object) -> None:
        limiter = self._limit()
        limiter.release_on_behalf_of(token)
        if not limiter.borrowed_tokens and self._idle is not None:
            self._idle.set()

    async def _handle(self, event: WebhookEvent, token: object) -> None:
        try:
            with anyio.CancelScope() as scope:
                if self.handler_timeout is not None:
                    scope.deadline = anyio.current_time() + self.handler_timeout
                result = self.handler(event)
                if hasattr(result, "__await__"):
                    await result
            if scope.cancelled_caught:
                self.stats["timeouts"] += 1
                log.warning("webhook handler cancelled after handler_timeout=%s s on a %s event (it had "
                            "been answered 200, so OK will not deliver it again)",
                            f"{self.handler_timeout:g}", event.type or "untyped")
        except Exception:
            # A bug in the bot must not take the server down or make OK retry (it got its 200).
            self.stats["handler_errors"] += 1
            log.exception("webhook handler failed on a %s event", event.type)
        finally:
            self._give_back(token)

    # -- lifespan ------------------------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message.get("type") != "lifespan.startup":
            return
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            self._tasks = None
            await self._drain(tasks)
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


def webhook_app(handler: Handler, *, allowed_networks: Iterable[str | Network] | None = OK_WEBHOOK_NETWORKS,
                trusted_proxies: Iterable[str | Network] = (), dedup_window: int = 10_000,
                max_body: int = MAX_BODY, max_handlers: int = MAX_HANDLERS, slot_wait: float = SLOT_WAIT,
                handler_timeout: float | None = HANDLER_TIMEOUT,
                shutdown_timeout: float = SHUTDOWN_TIMEOUT) -> WebhookApp:
    """An ASGI app that receives OK's webhooks and calls ``await handler(event)`` for each.

    ``allowed_networks``: source addresses accepted (default: OK's three published ranges;
    ``None`` accepts any, e.g. for local tests or when a proxy you trust already checked).
    ``trusted_proxies``: peers whose ``X-Forwarded-For`` is believed (your reverse proxy).
    ``dedup_window``: how many recent event ids are remembered to drop OK's redeliveries (0 turns
    it off). ``max_handlers``: how many handlers run at once; an event that finds them all busy
    waits up to ``slot_wait`` seconds (0 to 5, default 2) for one, else it is answered 503 and OK
    delivers it again. ``handler_timeout``: seconds a handler may run before it is cancelled
    (``None``: no limit). ``shutdown_timeout``: seconds the server's shutdown waits for running
    handlers before cancelling them.
    """
    return WebhookApp(handler, allowed_networks=allowed_networks, trusted_proxies=trusted_proxies,
                      dedup_window=dedup_window, max_body=max_body, max_handlers=max_handlers,
                      slot_wait=slot_wait, handler_timeout=handler_timeout, shutdown_timeout=shutdown_timeout)
