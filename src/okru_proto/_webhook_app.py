"""``webhook_app``: a pure ASGI application that receives OK's webhook POSTs.

ASGI is only a calling convention, so this module needs no server and imports no event loop:
it runs under any ASGI server (uvicorn, hypercorn...) on asyncio or trio. For each POST it
checks the source address, reads and parses the body, answers ``200`` at once (OK wants a 200
within 5 seconds and retries otherwise, docs/protocol.md §11.10), drops a repeat of an event
already seen (OK's retries), and only then hands the event to the user's handler, in the
background, so a slow handler never delays the answer.

Bounded work: at most ``max_handlers`` handlers run at once. An event that finds them all busy
waits up to ``slot_wait`` seconds for one to finish (holding OK's request open); if none does,
it is answered ``503`` and not remembered, so OK, which redelivers anything not answered 200
(docs/protocol.md §11.10), brings it again later. So the app keeps no queue of its own: a
waiting event is only its open request, held for at most ``slot_wait``, and no event is dropped.

Background work: when the server runs the ASGI lifespan protocol (uvicorn and hypercorn do by
default) the app keeps a task group for the server's lifetime (a trio nursery, or a set of
asyncio tasks) and waits for running handlers on shutdown. Without lifespan it falls back to
``loop.create_task`` (asyncio) or ``trio.lowlevel.spawn_system_task``. The loop is recognised
from ``sys.modules`` at request time, so importing okru_proto loads neither library.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from ._errors import UsageError
from ._webhook import DedupWindow, WebhookError, WebhookEvent, event_key, parse_webhook

__all__ = ["OK_WEBHOOK_NETWORKS", "WebhookApp", "webhook_app"]

log = logging.getLogger("okru.webhook")

#: "Запросы могут производиться только с определенного списка IP-адресов" (docs/protocol.md §11.10).
OK_WEBHOOK_NETWORKS = ("217.20.145.192/28", "217.20.151.160/28", "217.20.153.48/28")
#: A webhook body larger than this is refused with 413 (OK's events are small JSON objects).
MAX_BODY = 1 << 20
#: Handlers running at once by default.
MAX_HANDLERS = 64
#: Seconds an event waits for a free handler slot by default before it is answered 503. OK wants
#: its answer within 5 seconds (docs/protocol.md §11.10); 2 leaves room for the network and the body.
SLOT_WAIT = 2.0
#: The status for "no handler slot freed in time": OK redelivers on any status but 200.
BUSY_STATUS = 503

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Handler = Callable[[WebhookEvent], Any]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(values: Iterable[str | Network], what: str) -> tuple[Network, ...]:
    if isinstance(values, str):
        values = (values,)
    try:
        return tuple(ipaddress.ip_network(v, strict=False) for v in values)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{what}: {exc}") from None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _running_library() -> str:
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
            return "trio"
        except RuntimeError:
            pass
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None:
        try:
            asyncio.get_running_loop()
            return "asyncio"
        except RuntimeError:
            pass
    raise UsageError("webhook_app runs under an ASGI server on asyncio or trio")


class _Waiter:
    """One request waiting for a handler slot. ``granted`` is the truth: a finishing handler
    hands its slot over by setting it (and waking the request), in the loop's own thread."""

    __slots__ = ("granted", "wake")

    def __init__(self, wake: Callable[[], None]) -> None:
        self.granted = False
        self.wake = wake


class _Slots:
    """A counting limit that works on asyncio and trio alike (the waiting is done by the
    caller with its library's primitives). A freed slot goes to the oldest waiter, so a burst
    cannot starve an early event."""

    __slots__ = ("limit", "running", "waiters")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self.waiters: deque[_Waiter] = deque()

    def take(self) -> bool:
        if self.running < self.limit and not self.waiters:
            self.running += 1
            return True
        return False

    def release(self) -> None:
        if self.waiters:  # only live waiters are queued: one that gives up leaves at once
            waiter = self.waiters.popleft()
            waiter.granted = True  # the slot changes hands: ``running`` stays the same
            waiter.wake()
        else:
            self.running -= 1


async def _wait_for_slot(slots: _Slots, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for a slot; True if the caller now holds one."""
    if slots.take():
        return True
    if timeout <= 0:
        return False
    timer: Any = None
    if _running_library() == "trio":
        trio = sys.modules["trio"]
        event = trio.Event()
        waiter = _Waiter(event.set)

        async def wait() -> None:
            with trio.move_on_after(timeout):
                await event.wait()
    else:
        loop = sys.modules["asyncio"].get_running_loop()
        future = loop.create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        waiter = _Waiter(wake)
        timer = loop.call_later(timeout, wake)

        async def wait() -> None:
            await future
    slots.waiters.append(waiter)
    try:
        await wait()
    except BaseException:  # cancelled (the server is stopping)
        if waiter.granted:
            slots.release()  # just after a slot was handed over: give it back
        else:
            slots.waiters.remove(waiter)
        raise
    finally:
        if timer is not None:
            timer.cancel()
    if not waiter.granted:  # timed out: leave the queue (a stale waiter would block take())
        slots.waiters.remove(waiter)
    return waiter.granted  # a timeout that raced a hand-over keeps the slot


class WebhookApp:
    """The ASGI app :func:`webhook_app` returns. ``stats`` counts what it did (received,
    dispatched, duplicates, refused, invalid, busy, handler_errors); ``running`` is the number
    of handlers running now."""

    def __init__(self, handler: Handler, *, allowed_networks: Iterable[str | Network] | None,
                 trusted_proxies: Iterable[str | Network], dedup_window: int, max_body: int,
                 max_handlers: int = MAX_HANDLERS, slot_wait: float = SLOT_WAIT) -> None:
        if not callable(handler):
            raise UsageError("webhook_app needs a handler: async def handler(event): ...")
        self.handler = handler
        self.allowed = None if allowed_networks is None else _networks(allowed_networks, "allowed_networks")
        self.proxies = _networks(trusted_proxies, "trusted_proxies")
        self.dedup = DedupWindow(dedup_window)
        if type(max_body) is not int or max_body < 1:
            raise UsageError("max_body is a number of bytes >= 1")
        self.max_body = max_body
        if type(max_handlers) is not int or max_handlers < 1:
            raise UsageError(f"max_handlers is a number of handlers running at once >= 1, not {max_handlers!r}")
        if (type(slot_wait) not in (int, float) or not math.isfinite(slot_wait)
                or not 0 <= slot_wait < 5):
            raise UsageError(f"slot_wait is seconds in [0, 5) (OK wants its answer within 5 seconds), "
                             f"not {slot_wait!r}")
        self.max_handlers = max_handlers
        self.slot_wait = float(slot_wait)
        self._slots = _Slots(max_handlers)
        self.stats = dict.fromkeys(("received", "dispatched", "duplicates", "refused", "invalid",
                                    "busy", "handler_errors"), 0)
        self._spawn: Callable[[Callable[[], Awaitable[None]]], None] | None = None
        self._tasks: set[Any] = set()

    @property
    def running(self) -> int:
        """Handlers running now (never more than ``max_handlers``)."""
        return self._slots.running

    # -- source address ------------------------------------------------------------------
    def _trusted(self, address: Any) -> bool:
        return address is not None and any(address in net for net in self.proxies)

    def client_address(self, scope: Scope) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """Who sent the request: the peer, or, when the peer is a trusted proxy, the nearest
        ``X-Forwarded-For`` hop that is not one (a client can prepend anything to that header,
        so only hops added by trusted proxies are believed)."""
        client = scope.get("client")
        peer = _address(str(client[0])) if client else None
        if not self._trusted(peer):
            return peer
        forwarded: list[str] = []
        for name, value in scope.get("headers") or ():
            if name.lower() == b"x-forwarded-for":
                forwarded.extend(value.decode("latin-1").split(","))
        for hop in reversed(forwarded):
            address = _address(hop)
            if address is None:
                return None
            if not self._trusted(address):
                return address
        return peer

    def allowed_source(self, scope: Scope) -> bool:
        if self.allowed is None:
            return True
        address = self.client_address(scope)
        return address is not None and any(address in net for net in self.allowed)

    # -- ASGI ----------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    @staticmethod
    async def _answer(send: Send, status: int, extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", b"0"), *extra]})
        await send({"type": "http.response.body", "body": b""})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        stats = self.stats
        if scope.get("method") != "POST":
            await self._answer(send, 405, ((b"allow", b"POST"),))
            return
        if not self.allowed_source(scope):
            stats["refused"] += 1
            await self._answer(send, 403)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                stats["invalid"] += 1
                await self._answer(send, 413)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        stats["received"] += 1
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope.get("headers") or ()
                   if name.lower() == b"content-type"}
        try:
            event = parse_webhook(b"".join(chunks), headers)
        except WebhookError:
            stats["invalid"] += 1
            await self._answer(send, 400)
            return
        key = event_key(event)
        if key in self.dedup:
            stats["duplicates"] += 1
            await self._answer(send, 200)
            return
        # Wait for a handler slot before answering: holding the request open is the backpressure
        # OK sees; a 503 makes it deliver again later (any status but 200 is retried, §11.10).
        # The event is remembered only once accepted, so that redelivery is not taken for a repeat.
        if not await _wait_for_slot(self._slots, self.slot_wait):
            stats["busy"] += 1
            log.warning("webhook: no handler slot freed within %.1f s (max_handlers=%d); a %s event "
                        "answered %d so OK delivers it again", self.slot_wait, self.max_handlers,
                        event.type or "untyped", BUSY_STATUS)
            await self._answer(send, BUSY_STATUS)
            return
        if self.dedup.seen(key):  # the same event accepted by a concurrent request while this one waited
            self._slots.release()
            stats["duplicates"] += 1
            await self._answer(send, 200)
            return
        stats["dispatched"] += 1
        try:
            self.spawn(self._handle, event)
        except BaseException:
            self._slots.release()
            raise
        await self._answer(send, 200)

    async def _handle(self, event: WebhookEvent) -> None:
        try:
            result = self.handler(event)
            if hasattr(result, "__await__"):
                await result
        except Exception:
            # A bug in the bot must not take the server down or make OK retry (it got its 200).
            self.stats["handler_errors"] += 1
            log.exception("webhook handler failed on a %s event", event.type)

    # -- background work -----------------------------------------------------------------
    def spawn(self, func: Callable[[WebhookEvent], Awaitable[None]], event: WebhookEvent) -> None:
        """Run ``func(event)`` in the background on the server's loop; it holds a handler slot
        the caller took, and gives it back when it ends, however it ends."""
        slots = self._slots

        async def job() -> None:
            try:
                await func(event)
            finally:
                slots.release()

        if self._spawn is not None:
            self._spawn(job)
        elif _running_library() == "trio":
            sys.modules["trio"].lowlevel.spawn_system_task(job)
        else:
            asyncio = sys.modules["asyncio"]
            task = asyncio.get_running_loop().create_task(job())
            self._tasks.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._tasks.discard)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message.get("type") != "lifespan.startup":
            return
        if _running_library() == "trio":
            trio = sys.modules["trio"]
            async with trio.open_nursery() as nursery:
                self._spawn = nursery.start_soon
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown; the nursery then waits for running handlers
                self._spawn = None
        else:
            asyncio = sys.modules["asyncio"]
            tasks = self._tasks

            def start(job: Callable[[], Awaitable[None]]) -> None:
                task = asyncio.get_running_loop().create_task(job())
                tasks.add(task)
                task.add_done_callback(tasks.discard)

            self._spawn = start
            await send({"type": "lifespan.startup.complete"})
            await receive()
            self._spawn = None
            if tasks:
                await asyncio.gather(*list(tasks), return_exceptions=True)
        await send({"type": "lifespan.shutdown.complete"})


def webhook_app(handler: Handler, *, allowed_networks: Iterable[str | Network] | None = OK_WEBHOOK_NETWORKS,
                trusted_proxies: Iterable[str | Network] = (), dedup_window: int = 10_000,
                max_body: int = MAX_BODY, max_handlers: int = MAX_HANDLERS,
                slot_wait: float = SLOT_WAIT) -> WebhookApp:
    """An ASGI app that receives OK's webhooks and calls ``await handler(event)`` for each.

    ``allowed_networks``: source addresses accepted (default: OK's three published ranges;
    ``None`` accepts any, e.g. when a proxy you trust already checked). ``trusted_proxies``:
    peers whose ``X-Forwarded-For`` is believed (your reverse proxy). ``dedup_window``: how many
    recent event ids are remembered to drop OK's retries (0 turns it off). ``max_handlers``: how
    many handlers run at once; an event that finds them all busy waits up to ``slot_wait``
    seconds (0 to 5, default 2) for one to finish, else it is answered 503 and OK delivers it again.
    """
    return WebhookApp(handler, allowed_networks=allowed_networks, trusted_proxies=trusted_proxies,
                      dedup_window=dedup_window, max_body=max_body, max_handlers=max_handlers,
                      slot_wait=slot_wait)
