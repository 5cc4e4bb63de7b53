"""``payments_app``: the ASGI app that answers OK.ru's ``callbacks.payment`` and credits each
payment exactly once (docs/apps.md; the protocol and okru's choices: docs/protocol.md §13).

One GET from OK goes through, in this order: the method (GET only, else 405); the sender's
address (``allowed_networks``, believing ``X-Forwarded-For`` only from ``trusted_proxies``; else
403 and one WARNING per address); the size of the query; the signature (104) and the fields
(1001), ``okru_proto.apps.parse_payment``; the price list (1001, before the handler runs); then
the game's handler, at most once per ``(application_key, transaction_id)``:

* the key is claimed in the store (``claim_ttl`` seconds, renewed while the handler runs), so a
  repeat reaching another process or machine meanwhile waits up to ``busy_wait`` seconds for the
  outcome and otherwise gets SERVICE (2), which OK answers by trying again 5 s later;
* the handler's outcome (credited, or its :class:`PaymentRejected`) is recorded for ``keep``
  seconds and every repeat is answered the same without calling it again;
* a handler that raises, asks for SERVICE (``PaymentRejected(2)``), or dies with its process
  records nothing: the claim is released (or expires), and OK's next try runs it again. Its
  exception text never reaches OK (it gets SERVICE 2) and is logged here;
* ``timeout`` bounds the wait for the handler: at the deadline OK gets SERVICE 2. An ``async``
  handler is cancelled then (and its claim released, as after a crash); a plain function, run in a
  worker thread, cannot be stopped, so it keeps its claim and its outcome is recorded when it
  returns, for OK's next try.

An empty ``transaction_id`` (subscription events, docs/protocol.md §13.3) is never a key: such a
call runs the handler every time it comes.

Runs on anyio: any ASGI server (uvicorn, hypercorn...), asyncio or trio.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import json
import logging
import math
import os
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread

from okru_proto import Secret, UsageError
from okru_proto.apps import (
    OK_PAYMENT_NETWORKS,
    REPLY_FORMATS,
    SERVICE,
    Payment,
    PaymentError,
    PaymentRejected,
    PaymentReply,
    ReplyFormat,
    check_price,
    error_reply,
    parse_payment,
    payment_reply,
)

from okru_stores import Claim, MemoryStore, OnceStore

from ._network import Network, RefusedLog, client_address, networks

__all__ = ["PaymentsApp", "payments_app"]

log = logging.getLogger("okru.payments")

#: Seconds OK's callback waits for the handler before it is answered SERVICE (2). OK publishes
#: no per-try timeout; it tries 3 times, 5 s apart (docs/protocol.md §13.3).
TIMEOUT = 10.0
#: Seconds a repeat waits for another server's running handler before answering SERVICE (2).
BUSY_WAIT = 2.0
#: Seconds a claim lives unless renewed (every third of it while the handler runs). Under OK's
#: 5 s between tries, so the next try after a crash finds the key free.
CLAIM_TTL = 4.0
#: Seconds an outcome is kept: far beyond OK's retries (seconds), for late or manual repeats.
KEEP = 24 * 3600.0
#: Handlers running at once; more calls wait for a slot within their ``timeout``.
MAX_HANDLERS = 64
#: The longest query string read (OK's callbacks are well under 1 KiB).
MAX_QUERY = 8 * 1024

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Handler = Callable[[Payment], Any]

_STATS = ("received", "credited", "repeats", "rejected", "invalid", "refused", "busy", "failed", "timeouts")


def _is_async(function: object) -> bool:
    while isinstance(function, functools.partial):
        function = function.func
    if inspect.iscoroutinefunction(function):
        return True
    if not callable(function) or inspect.isfunction(function) or inspect.ismethod(function):
        return False
    return inspect.iscoroutinefunction(type(function).__call__)


def _seconds(value: object, name: str, *, low: float = 0.0, zero: bool = False) -> float:
    if (type(value) not in (int, float) or not math.isfinite(value)  # type: ignore[arg-type]
            or value < low or (value == low and not zero)):  # type: ignore[operator]
        raise UsageError(f"{name} is a number of seconds {'>=' if zero else '>'} {low:g}, not {value!r}")
    return float(value)  # type: ignore[arg-type]


def _prices(prices: Mapping[str, int] | None) -> dict[str, int] | None:
    if prices is None:
        return None
    if not isinstance(prices, Mapping):
        raise UsageError("prices maps each product_code (str) to its price in OKs (int)")
    out = {}
    for code, price in prices.items():
        if not isinstance(code, str) or type(price) is not int or price < 0:
            raise UsageError(f"prices maps each product_code (str) to its price in OKs (an int >= 0); "
                             f"got {code!r}: {price!r}")
        out[code] = price
    return out


def _outcome(reply: PaymentReply) -> str:
    """What is recorded for a transaction: the answer OK gets again (format-free)."""
    return json.dumps({"v": 1, "code": reply.code, "error_msg": reply.error_msg}, ensure_ascii=False,
                      separators=(",", ":"))


class _Ended:
    """How a handler's run ended: ``reply`` for OK, and whether it is final (recorded)."""

    __slots__ = ("final", "reply")

    def __init__(self, reply: PaymentReply, final: bool) -> None:
        self.reply = reply
        self.final = final


class PaymentsApp:
    """The ASGI app :func:`payments_app` returns. ``stats`` counts what it did: ``received``
    (signed, well-formed calls), ``credited`` (handler returned), ``repeats`` (answered from a
    recorded outcome), ``rejected`` (handler raised :class:`PaymentRejected`), ``invalid``
    (signature, fields or price), ``refused`` (source address), ``busy`` (another server held
    the transaction), ``failed`` (handler raised), ``timeouts`` (past ``timeout``)."""

    def __init__(self, handler: Handler, *, app_secret_key: Secret | str, application_key: str | None,
                 prices: Mapping[str, int] | None, store: OnceStore | None,
                 allowed_networks: Iterable[str | Network] | None, trusted_proxies: Iterable[str | Network],
                 format: ReplyFormat, timeout: float, busy_wait: float, claim_ttl: float, keep: float,
                 max_handlers: int) -> None:
        if not callable(handler):
            raise UsageError("payments_app needs a handler: def handler(payment): ... (or async def)")
        secret = app_secret_key.reveal() if isinstance(app_secret_key, Secret) else app_secret_key
        if not isinstance(secret, str) or not secret:
            raise UsageError("payments_app needs app_secret_key, the application's secret key "
                             "(OK signs every callback with it)")
        if application_key is not None and (not isinstance(application_key, str) or not application_key):
            raise UsageError("application_key is the application's public key (a non-empty str) or None")
        if format not in REPLY_FORMATS:
            raise UsageError(f"format is 'xml' (OK's documented answer) or 'json', not {format!r}")
        if store is not None and not isinstance(store, OnceStore):
            raise UsageError("store must be an okru_stores store (MemoryStore, SQLiteStore, RedisStore) or "
                             "anything with claim/finish/release and their a-prefixed async twins")
        if type(max_handlers) is not int or max_handlers < 1:
            raise UsageError(f"max_handlers is a number of handlers running at once >= 1, not {max_handlers!r}")
        self.handler = handler
        self.is_async = _is_async(handler)
        self._secret = Secret(secret)
        self.application_key = application_key
        self.prices = _prices(prices)
        self.store: OnceStore = MemoryStore() if store is None else store
        self.allowed = None if allowed_networks is None else networks(allowed_networks, "allowed_networks")
        self.trusted_proxies = networks(trusted_proxies, "trusted_proxies")
        self.format: ReplyFormat = format
        self.timeout = _seconds(timeout, "timeout")
        self.busy_wait = _seconds(busy_wait, "busy_wait", zero=True)
        if self.busy_wait >= self.timeout:
            raise UsageError(f"busy_wait ({busy_wait!r}) must be shorter than timeout ({timeout!r})")
        self.claim_ttl = _seconds(claim_ttl, "claim_ttl")
        self.keep = _seconds(keep, "keep")
        self.max_handlers = max_handlers
        self.stats = dict.fromkeys(_STATS, 0)
        self._refused = RefusedLog(log, "payments_app", "allowed_networks")
        self._holders = itertools.count(1)
        self._prefix = f"{os.getpid()}.{secrets.token_hex(6)}"
        self._loop: object = None
        self._slots: anyio.CapacityLimiter | None = None
        self._threads: anyio.CapacityLimiter | None = None
        self._success = self._wire(payment_reply(format=format))
        self._service = error_reply(SERVICE, format=format)

    def __repr__(self) -> str:
        return (f"PaymentsApp(application_key={self.application_key!r}, format={self.format!r}, "
                f"store={type(self.store).__name__}, timeout={self.timeout!r})")

    # -- ASGI ----------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "http":
            await self._http(scope, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message.get("type") == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message.get("type") == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    @staticmethod
    def _wire(reply: PaymentReply) -> tuple[list[tuple[bytes, bytes]], bytes]:
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in reply.headers]
        headers.append((b"content-length", str(len(reply.body)).encode("ascii")))
        return headers, reply.body

    async def _answer(self, send: Send, reply: PaymentReply, status: int = 200) -> None:
        # Every success answer of one app is the same bytes: built once (the hot path).
        headers, body = self._success if reply.code is None else self._wire(reply)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _bare(send: Send, status: int, extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", b"0"), *extra]})
        await send({"type": "http.response.body", "body": b""})

    async def _http(self, scope: Scope, send: Send) -> None:
        if scope.get("method") != "GET":
            # OK calls back with GET only (docs/protocol.md §13.3).
            await self._bare(send, 405, ((b"allow", b"GET"),))
            return
        if self.allowed is not None:
            address = client_address(scope, self.trusted_proxies)
            if address is None or not any(address in net for net in self.allowed):
                self.stats["refused"] += 1
                self._refused.refused(address)
                await self._bare(send, 403)
                return
        query: bytes = scope.get("query_string") or b""
        if len(query) > MAX_QUERY:
            self.stats["invalid"] += 1
            error = PaymentError(1001, f"the query string is longer than {MAX_QUERY} bytes")
            await self._answer(send, payment_reply(error, format=self.format), 414)
            return
        try:
            payment = parse_payment(query.decode("utf-8"), app_secret_key=self._secret,
                                    application_key=self.application_key)
            if self.prices is not None:
                check_price(payment, self.prices)
        except UnicodeDecodeError:
            self.stats["invalid"] += 1
            await self._answer(send, error_reply(1001, "CALLBACK_INVALID_PAYMENT : the query is not UTF-8",
                                                 format=self.format))
            return
        except PaymentError as exc:
            self.stats["invalid"] += 1
            log.warning("payments_app: refused a callback with %d: %s", exc.code, exc.error_msg)
            await self._answer(send, payment_reply(exc, format=self.format))
            return
        self.stats["received"] += 1
        await self._payment(payment, send)

    # -- exactly once --------------------------------------------------------------------
    def key(self, payment: Payment) -> str:
        """The store key of a payment: its application key and transaction id, written so that
        no two pairs make the same key whatever their characters."""
        app = self.application_key or payment.application_key or ""
        return f"okru.payment:{len(app)}:{app}:{payment.transaction_id}"

    async def _payment(self, payment: Payment, send: Send) -> None:
        deadline = anyio.current_time() + self.timeout
        loop = anyio.lowlevel.current_token()
        if self._loop is not loop:  # made on the server's loop, on first use (a new loop: anew)
            self._slots = anyio.CapacityLimiter(self.max_handlers)
            self._threads = anyio.CapacityLimiter(self.max_handlers)
            self._loop = loop
        slots = self._slots
        assert slots is not None
        acquired = False
        with anyio.move_on_after(self.timeout):
            await slots.acquire()
            acquired = True
        if not acquired:
            self.stats["busy"] += 1
            log.warning("payments_app: no handler slot freed within %.1f s (max_handlers=%d); answered "
                        "SERVICE (2) so OK tries again", self.timeout, self.max_handlers)
            await self._answer(send, self._service)
            return
        try:
            await self._once(payment, send, deadline)
        finally:
            slots.release()

    async def _once(self, payment: Payment, send: Send, deadline: float) -> None:
        if not payment.transaction_id:
            # Subscription events come without one (docs/protocol.md §13.3): nothing to key on.
            await self._run(payment, send, deadline, None, "")
            return
        key = self.key(payment)
        holder = f"{self._prefix}.{next(self._holders)}"
        busy_until = min(anyio.current_time() + self.busy_wait, deadline)
        delay = 0.05
        while True:
            try:
                claim: Claim = await self.store.aclaim(key, holder, self.claim_ttl)
            except Exception:
                self.stats["failed"] += 1
                log.exception("payments_app: the store could not claim transaction %r; answered SERVICE (2) "
                              "so OK tries again", payment.transaction_id)
                await self._answer(send, self._service)
                return
            if claim.status == "done":
                self.stats["repeats"] += 1
                await self._answer(send, self._recorded(claim.outcome, payment))
                return
            if claim.status == "claimed":
                break
            if anyio.current_time() + delay > busy_until:
                # Another process runs this transaction's handler now: OK's next try (5 s on)
                # finds its outcome, or the key free if that process died.
                self.stats["busy"] += 1
                log.info("payments_app: transaction %r is being handled by another server; answered "
                         "SERVICE (2) so OK tries again", payment.transaction_id)
                await self._answer(send, self._service)
                return
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.5)
        await self._run(payment, send, deadline, key, holder)

    def _recorded(self, outcome: str | None, payment: Payment) -> PaymentReply:
        try:
            data = json.loads(outcome or "")
            code = data["code"]
            if code is None:
                return payment_reply(format=self.format)
            return error_reply(int(code), str(data["error_msg"]), format=self.format)
        except (ValueError, KeyError, TypeError, UsageError):
            log.error("payments_app: the outcome recorded for transaction %r is unreadable (written by "
                      "another version of okru?); answered SERVICE (2)", payment.transaction_id)
            return self._service

    async def _run(self, payment: Payment, send: Send, deadline: float, key: str | None, holder: str) -> None:
        """Run the handler once, holding ``key``; record or release; answer OK."""
        ended: list[_Ended] = []
        done = anyio.Event()
        answered = False
        work_scope = anyio.CancelScope()

        async def work() -> None:
            try:
                with work_scope:
                    ended.append(await self._call(payment))
            finally:
                done.set()

        # Shielded from the server's own cancellation (a shutdown): a credit is not cut in two by
        # it; ``timeout`` bounds the wait instead.
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as tasks:
                if key is not None:
                    tasks.start_soon(self._keep_claim, key, holder, payment.transaction_id)
                tasks.start_soon(work)
                with anyio.move_on_after(max(deadline - anyio.current_time(), 0.0)):
                    await done.wait()
                if not done.is_set():
                    self.stats["timeouts"] += 1
                    if self.is_async:
                        work_scope.cancel()
                        log.warning("payments_app: the handler ran past timeout=%.1f s on transaction %r and was "
                                    "cancelled; answered SERVICE (2) so OK tries again", self.timeout,
                                    payment.transaction_id)
                    else:
                        log.warning("payments_app: the handler ran past timeout=%.1f s on transaction %r; "
                                    "answered SERVICE (2). It runs in a thread, which cannot be stopped: it "
                                    "keeps the transaction, and its outcome is recorded for OK's next try",
                                    self.timeout, payment.transaction_id)
                    answered = await self._answer_late(send, self._service)
                    await done.wait()
                result = ended[0] if ended else _Ended(self._service, final=False)
                if key is not None:
                    await self._record(key, holder, result, payment)
                tasks.cancel_scope.cancel()  # stops renewing the claim
        if not answered:
            await self._answer(send, result.reply)

    async def _call(self, payment: Payment) -> _Ended:
        try:
            if self.is_async:
                result = self.handler(payment)
            else:
                result = await anyio.to_thread.run_sync(self.handler, payment, limiter=self._threads)
            if inspect.isawaitable(result):
                await result
        except PaymentRejected as exc:
            self.stats["rejected"] += 1
            return _Ended(payment_reply(exc, format=self.format), final=exc.code != SERVICE)
        except Exception:
            self.stats["failed"] += 1
            # The traceback is for the game's logs; OK only ever sees SERVICE (2).
            log.exception("payments_app: the handler raised on transaction %r (product %r); answered "
                          "SERVICE (2) so OK tries again", payment.transaction_id, payment.product_code)
            return _Ended(self._service, final=False)
        self.stats["credited"] += 1
        return _Ended(payment_reply(format=self.format), final=True)

    async def _record(self, key: str, holder: str, result: _Ended, payment: Payment) -> None:
        transaction = payment.transaction_id
        if not result.final:
            try:
                await self.store.arelease(key, holder)
            except Exception:
                log.warning("payments_app: could not release transaction %r (the store failed); it frees "
                            "itself after claim_ttl=%.1f s", transaction, self.claim_ttl, exc_info=True)
            return
        try:
            first = await self.store.afinish(key, holder, _outcome(result.reply), self.keep)
        except Exception:
            log.error("payments_app: transaction %r was handled but its outcome could not be recorded (the "
                      "store failed): a repeat of it would run the handler again", transaction, exc_info=True)
            return
        if not first:
            log.error("payments_app: transaction %r was handled here after another server recorded its "
                      "outcome (this claim had expired: a handler blocking the event loop, or claim_ttl too "
                      "short?)", transaction)

    async def _keep_claim(self, key: str, holder: str, transaction: str) -> None:
        while True:
            await anyio.sleep(self.claim_ttl / 3)
            try:
                claim = await self.store.aclaim(key, holder, self.claim_ttl)
            except Exception:
                log.warning("payments_app: could not renew the claim on transaction %r (the store failed)",
                            transaction, exc_info=True)
                continue
            if claim.status != "claimed":
                log.error("payments_app: lost the claim on transaction %r while its handler runs (%s): "
                          "another server may run it too", transaction, claim.status)
                return

    async def _answer_late(self, send: Send, reply: PaymentReply) -> bool:
        try:
            await self._answer(send, reply)
        except Exception:  # OK hung up meanwhile: nobody to answer
            log.debug("payments_app: could not send the answer (connection gone)", exc_info=True)
        return True


def payments_app(handler: Handler, *, app_secret_key: Secret | str, application_key: str | None = None,
                 prices: Mapping[str, int] | None = None, store: OnceStore | None = None,
                 allowed_networks: Iterable[str | Network] | None = OK_PAYMENT_NETWORKS,
                 trusted_proxies: Iterable[str | Network] = (), format: ReplyFormat = "xml",
                 timeout: float = TIMEOUT, busy_wait: float = BUSY_WAIT, claim_ttl: float = CLAIM_TTL,
                 keep: float = KEEP, max_handlers: int = MAX_HANDLERS) -> PaymentsApp:
    """An ASGI app answering OK's ``callbacks.payment``; ``handler(payment)`` credits one
    :class:`~okru_proto.apps.Payment` (``async def`` or a plain function, which runs in a worker
    thread). Returning means "credited"; raising :class:`~okru_proto.apps.PaymentRejected`
    refuses it with its code; any other exception answers SERVICE (2), so OK tries again.

    ``app_secret_key`` checks every call's signature; ``application_key`` (when given) must match
    the one OK sends. ``prices``: product code -> price in OKs; a product not in it or a wrong
    ``amount`` is refused (1001) before the handler runs. ``store``: where claims and outcomes
    live (an ``okru_stores`` store shared by every process); without one, this process's memory.
    ``allowed_networks``: the senders accepted (default: OK's three published ranges; ``None``:
    any); ``trusted_proxies``: your reverse proxies, whose ``X-Forwarded-For`` is believed.
    ``format``: ``"xml"`` (OK's documented answer) or ``"json"``. ``timeout``: seconds OK waits
    for the handler; ``busy_wait``: seconds a repeat waits for another server's running handler;
    ``claim_ttl``: seconds a claim outlives a crashed holder; ``keep``: seconds outcomes are
    kept; ``max_handlers``: handlers running at once. docs/apps.md has the details."""
    return PaymentsApp(handler, app_secret_key=app_secret_key, application_key=application_key, prices=prices,
                       store=store, allowed_networks=allowed_networks, trusted_proxies=trusted_proxies,
                       format=format, timeout=timeout, busy_wait=busy_wait, claim_ttl=claim_ttl, keep=keep,
                       max_handlers=max_handlers)
