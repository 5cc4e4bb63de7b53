"""``payments_app``: the ASGI app that answers OK.ru's ``callbacks.payment`` (docs/apps.md; the
protocol and okru's choices: docs/protocol.md §13).

One GET from OK goes through, in this order: the method (GET only, else 405); the sender's
address (``allowed_networks``, believing ``X-Forwarded-For`` only from ``trusted_proxies``; else
403 and one WARNING per address); the size of the query (414); the signature (104) and the fields
(1001), ``okru_proto.apps.parse_payment``; the price list (1001, before the handler runs); then
the game's handler, at most once per ``(application_key, transaction_id)`` (``_once``).

Runs on anyio: any ASGI server (uvicorn, hypercorn...), asyncio or trio. Under the ASGI
lifespan the app keeps one task that renews the claims of running handlers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

import anyio

from okru_proto import Secret, UsageError
from okru_proto.apps import (
    OK_PAYMENT_NETWORKS,
    REPLY_FORMATS,
    Payment,
    PaymentError,
    PaymentReply,
    ReplyFormat,
    check_price,
    error_reply,
    parse_payment,
    payment_reply,
)
from okru_stores import OnceStore

from .._peers import Network, SourceCheck
from ._memory import ProcessOnceStore
from ._once import Handler, OnceRunner

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

_STATS = ("received", "credited", "repeats", "rejected", "invalid", "refused", "busy", "failed", "timeouts")


def _seconds(value: object, name: str, *, zero: bool = False) -> float:
    if (type(value) not in (int, float) or not math.isfinite(value)  # type: ignore[arg-type]
            or value < 0 or (value == 0 and not zero)):  # type: ignore[operator]
        raise UsageError(f"{name} is a number of seconds {'>=' if zero else '>'} 0, not {value!r}")
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


def _wire(reply: PaymentReply) -> tuple[list[tuple[bytes, bytes]], bytes]:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in reply.headers]
    headers.append((b"content-length", str(len(reply.body)).encode("ascii")))
    return headers, reply.body


class PaymentsApp:
    """The ASGI app :func:`payments_app` returns. ``stats`` counts what it did: ``received``
    (signed, well-formed calls), ``credited`` (handler returned), ``repeats`` (answered from a
    recorded outcome), ``rejected`` (handler raised :class:`PaymentRejected`), ``invalid``
    (signature, fields or price), ``refused`` (source address), ``busy`` (another server held
    the transaction, or no handler slot), ``failed`` (handler or store raised), ``timeouts``
    (past ``timeout``)."""

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
        timeout, busy_wait = _seconds(timeout, "timeout"), _seconds(busy_wait, "busy_wait", zero=True)
        if busy_wait >= timeout:
            raise UsageError(f"busy_wait ({busy_wait!r}) must be shorter than timeout ({timeout!r})")
        self._secret = Secret(secret)
        self.application_key = application_key
        self.prices = _prices(prices)
        self.sources = SourceCheck(allowed_networks, trusted_proxies, log=log, app="payments_app")
        self.allowed = self.sources.allowed
        self.trusted_proxies = self.sources.proxies
        self.format: ReplyFormat = format
        self.stats = dict.fromkeys(_STATS, 0)
        self.store: OnceStore = ProcessOnceStore() if store is None else store
        self.runner = OnceRunner(handler, self.store, format=format, timeout=timeout, busy_wait=busy_wait,
                                 claim_ttl=_seconds(claim_ttl, "claim_ttl"), keep=_seconds(keep, "keep"),
                                 max_handlers=max_handlers, stats=self.stats)
        self._success = _wire(payment_reply(format=format))

    @property
    def handler(self) -> Handler:
        return self.runner.handler

    @property
    def timeout(self) -> float:
        return self.runner.timeout

    def __repr__(self) -> str:
        return (f"PaymentsApp(application_key={self.application_key!r}, format={self.format!r}, "
                f"store={type(self.store).__name__}, timeout={self.timeout!r})")

    def key(self, payment: Payment) -> str:
        """The store key of a payment: its application key and transaction id, written so that
        no two pairs make the same key whatever their characters."""
        app = self.application_key or payment.application_key or ""
        return f"okru.payment:{len(app)}:{app}:{payment.transaction_id}"

    # -- ASGI ----------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "http":
            await self._http(scope, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        runner = self.runner
        async with anyio.create_task_group() as tasks:
            while True:
                message = await receive()
                if message.get("type") == "lifespan.startup":
                    if not runner.renewing:
                        runner.renewing = True
                        tasks.start_soon(runner.watch)
                    await send({"type": "lifespan.startup.complete"})
                elif message.get("type") == "lifespan.shutdown":
                    runner.renewing = False
                    tasks.cancel_scope.cancel()
                    break
        await send({"type": "lifespan.shutdown.complete"})

    async def _answer(self, send: Send, reply: PaymentReply, status: int = 200) -> None:
        # Every success answer of one app is the same bytes: built once (the hot path).
        headers, body = self._success if reply.code is None else _wire(reply)
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
        if not self.sources.allows(scope):
            self.stats["refused"] += 1
            await self._bare(send, 403)
            return
        query: bytes = scope.get("query_string") or b""
        if len(query) > MAX_QUERY:
            self.stats["invalid"] += 1
            error = PaymentError(1001, f"the query string is longer than {MAX_QUERY} bytes")
            await self._answer(send, payment_reply(error, format=self.format), 414)
            return
        try:
            payment = parse_payment(query.decode("utf-8"), app_secret_key=self._secret.reveal(),
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

        success = self._success

        async def answer(reply: PaymentReply) -> None:
            # _answer's work, inlined: this runs once per payment.
            headers, body = success if reply.code is None else _wire(reply)
            try:
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
            except OSError:  # OK hung up before the answer (it will try again)
                log.debug("payments_app: could not send the answer (connection gone)", exc_info=True)

        # Subscription events come without a transaction id (docs/protocol.md §13.3): no key.
        await self.runner.run(payment, self.key(payment) if payment.transaction_id else None, answer)


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
