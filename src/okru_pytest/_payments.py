"""The ``ok_payments`` fixture: OK.ru's side of a game in a test, over the emulator's
``fake.payments`` (docs/apps.md).

:meth:`OKPayments.purchase` makes OK's ``callbacks.payment`` calls for one purchase (at most 3
tries, 5 s apart on the emulator's clock, which jumps: nothing waits) to a game's callback, given
as a URL (sent with httpx) or as the ASGI app itself (called in-process, on its own event loop in
a worker thread, from OK's address). :meth:`OKPayments.launch_url` is the demo user opening the
game.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from okru_proto import UsageError
from okru_proto.testing import FakeOK, Purchase

if TYPE_CHECKING:
    import httpx

    from okru_proto.adapter import Request, Response

__all__ = ["OKPayments", "ok_payments"]

#: Seconds one call may take (a game's handler included) before OK counts it unanswered.
CALL_TIMEOUT = 30.0


async def _call_app(app: Any, request: Request, client: str) -> Response:
    from okru_proto.adapter import Response

    parts = urlsplit(request.url)
    scope: MutableMapping[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request.method,
        "scheme": parts.scheme, "path": parts.path or "/", "raw_path": (parts.path or "/").encode(),
        "query_string": parts.query.encode(), "root_path": "",
        "headers": [(b"host", (parts.netloc or "game.test").encode())],
        "client": (client, 443), "server": (parts.hostname or "game.test", parts.port or 80),
    }
    status, headers, chunks = 500, [], []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in message.get("headers", ())]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return Response(status, tuple(headers), b"".join(chunks))


class OKPayments:
    """OK's side of a game, for tests: ``launch_url``/``launch_params`` (the demo user opening
    it) and ``purchase`` (a user paying, with OK's calls to the game's callback)."""

    def __init__(self, fake: FakeOK, client: httpx.Client | None = None) -> None:
        self.fake = fake
        self._client = client

    def launch_url(self, app_url: str, **options: Any) -> str:
        """``app_url`` with the demo user's signed launch parameters (``fake.payments.launch_url``)."""
        return self.fake.payments.launch_url(app_url, **options)

    def launch_params(self, **options: Any) -> dict[str, str]:
        return self.fake.payments.launch_params(**options)

    def purchase(self, target: str | Callable[..., Any], *, product_code: str | None, amount: int,
                 path: str = "/ok/payment", **options: Any) -> Purchase:
        """A user buys ``product_code`` for ``amount`` OKs: OK's calls to ``target`` (the game's
        callback URL, or its ASGI app, reached at ``path``) until one succeeds or three did not.
        The finished :class:`~okru_proto.testing.Purchase` (``went_through``, ``attempts``).
        ``options``: the rest of ``fake.payments.purchase`` (``extra_attributes``,
        ``transaction_id``, ``login``...)."""
        send: Callable[[Request], Response]
        if isinstance(target, str):
            url, send = target, self._http_send
        elif callable(target):
            url, send = f"https://game.test{path}", self._asgi_sender(target)
        else:
            raise UsageError(f"purchase() goes to a callback URL or an ASGI app, not {type(target).__name__}")
        purchase = self.fake.payments.purchase(url, product_code=product_code, amount=amount, **options)
        return self.fake.payments.run(purchase, send)

    def repeat(self, purchase: Purchase, target: str | Callable[..., Any]) -> Response:
        """The same signed call once more (as OK repeats one), to the same ``target``; the
        game's answer (not recorded in the purchase)."""
        send = self._http_send if isinstance(target, str) else self._asgi_sender(target)
        return send(self.fake.payments.request(purchase))

    def _http_send(self, request: Request) -> Response:
        import httpx

        from okru_proto.adapter import Response

        if self._client is None:
            self._client = httpx.Client(timeout=CALL_TIMEOUT)
        answer = self._client.request(request.method, request.url, headers=list(request.headers))
        return Response(answer.status_code, tuple((k.lower(), v) for k, v in answer.headers.multi_items()),
                        answer.content)

    def _asgi_sender(self, app: Callable[..., Any]) -> Callable[[Request], Response]:
        import anyio

        source = self.fake.payments.source_address

        def send(request: Request) -> Response:
            # Its own loop in a worker thread: the test calling this may be async (a loop running).
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                return pool.submit(anyio.run, _call_app, app, request, source).result(CALL_TIMEOUT)

        return send

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


@pytest.fixture
def ok_payments(fake_ok: FakeOK) -> Iterator[OKPayments]:
    """OK's side of a game over ``fake_ok``: ``ok_payments.purchase(app_or_url, product_code=...,
    amount=...)`` makes OK's calls to the game (3 tries, 5 s apart on the emulator's clock);
    ``ok_payments.launch_url(app_url)`` is the demo user opening it."""
    payments = OKPayments(fake_ok)
    yield payments
    payments.close()
