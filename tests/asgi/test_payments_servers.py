"""payments_app under real servers (uvicorn on asyncio, hypercorn on asyncio and on trio), paid
for by the emulator playing OK: its signed GETs, 3 tries 5 s apart on its clock, its reading of
the answers. Three tries give one credit; a crash then a retry gives one credit; a refusal and a
forged signature are never credited; the Invocation-error header survives each server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import sniffio

from okru_asgi import payments_app
from okru_proto.adapter import Request, Response
from okru_proto.apps import Payment, PaymentRejected
from okru_proto.testing import FakeOK
from tests.servers import SERVERS, http_send, served

pytestmark = pytest.mark.network


class Game:
    """A game's handler (sync or async) and what it credited, checked against the loop it runs on."""

    def __init__(self, kind: str, server: str) -> None:
        self.kind = kind
        self.server = server
        self.credited: list[str] = []
        self.calls = 0
        self.behaviour: Callable[[Payment], None] = lambda payment: None
        self.lock = threading.Lock()

    def _credit(self, payment: Payment) -> None:
        with self.lock:
            self.calls += 1
        self.behaviour(payment)
        with self.lock:
            self.credited.append(payment.transaction_id)

    def sync(self, payment: Payment) -> None:
        self._credit(payment)

    async def async_(self, payment: Payment) -> None:
        assert sniffio.current_async_library() == ("trio" if self.server.endswith("trio") else "asyncio")
        await anyio.sleep(0)
        self._credit(payment)

    @property
    def handler(self) -> Callable[[Payment], Any]:
        return self.sync if self.kind == "sync" else self.async_


@pytest.fixture(params=sorted(SERVERS))
def server(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["async", "sync"])
def game(request: pytest.FixtureRequest, server: str) -> Game:
    return Game(str(request.param), server)


def serve(game: Game, fake: FakeOK, server: str, **options: Any) -> Any:
    options.setdefault("app_secret_key", fake.app_secret_key)
    app = payments_app(game.handler, application_key=fake.app_key, prices={"gems_100": 10, "sword": 250},
                       trusted_proxies=["127.0.0.1"], **options)
    return app, served(app, server)


def test_three_tries_give_one_credit(game: Game, server: str) -> None:
    fake = FakeOK()
    app, running = serve(game, fake, server)
    with running as url:
        purchase = fake.payments.purchase(url, product_code="gems_100", amount=10,
                                          extra_attributes={"order": "заказ-1"})

        def send(request: Request) -> Response | None:
            answer = http_send(request)  # the game answers every time...
            return answer if len(purchase.attempts) == 2 else None  # ...but OK hears only the third

        fake.payments.run(purchase, send)
    assert purchase.went_through and len(purchase.attempts) == 3
    assert [a.time - purchase.attempts[0].time for a in purchase.attempts] == [0, 5, 10]
    assert game.credited == [purchase.transaction_id] and game.calls == 1
    assert (app.stats["credited"], app.stats["repeats"]) == (1, 2)


def test_a_crash_then_a_retry_gives_one_credit(game: Game, server: str) -> None:
    fake = FakeOK()

    def crash_once(payment: Payment) -> None:
        if game.calls == 1:
            raise RuntimeError("the database went away")

    game.behaviour = crash_once
    app, running = serve(game, fake, server)
    with running as url:
        purchase = fake.payments.run(fake.payments.purchase(url, product_code="sword", amount=250), http_send)
    assert purchase.went_through
    first, second = purchase.attempts
    assert (first.status, first.error_code, first.success) == (200, 2, False)  # SERVICE, with its header
    assert second.success and game.credited == [purchase.transaction_id] and game.calls == 2
    assert (app.stats["failed"], app.stats["credited"]) == (1, 1)


def test_a_refusal_is_never_credited_and_ok_cancels(game: Game, server: str) -> None:
    fake = FakeOK()

    def refuse(payment: Payment) -> None:
        raise PaymentRejected(1001, "this order was already delivered")

    game.behaviour = refuse
    app, running = serve(game, fake, server)
    with running as url:
        purchase = fake.payments.run(fake.payments.purchase(url, product_code="gems_100", amount=10), http_send)
        wrong_price = fake.payments.run(fake.payments.purchase(url, product_code="gems_100", amount=1), http_send)
    assert purchase.state == "cancelled" and [a.error_code for a in purchase.attempts] == [1001, 1001, 1001]
    assert game.calls == 1 and not game.credited  # the refusal was recorded: asked once
    assert wrong_price.state == "cancelled" and {a.error_code for a in wrong_price.attempts} == {1001}
    assert game.calls == 1  # the price check ran before the handler
    assert (app.stats["rejected"], app.stats["repeats"], app.stats["invalid"]) == (1, 2, 3)


def test_a_forged_or_foreign_signature_is_never_credited(game: Game, server: str) -> None:
    fake = FakeOK()
    app, running = serve(game, fake, server, app_secret_key="not-this-apps-secret")
    with running as url:
        purchase = fake.payments.run(fake.payments.purchase(url, product_code="gems_100", amount=10), http_send)
    assert purchase.state == "cancelled" and {a.error_code for a in purchase.attempts} == {104}
    assert game.calls == 0 and app.stats["invalid"] == 3


def test_a_sender_outside_oks_networks_gets_403(game: Game, server: str) -> None:
    fake = FakeOK()
    app, running = serve(game, fake, server)
    with running as url:
        fake.payments.source_address = "198.51.100.7"
        purchase = fake.payments.run(fake.payments.purchase(url, product_code="gems_100", amount=10), http_send)
    assert [a.status for a in purchase.attempts] == [403, 403, 403] and game.calls == 0
    assert app.stats["refused"] == 3
