"""The ok_payments fixture (found through the plugin's entry point): OK's calls to a game's ASGI
app in-process (from sync and async tests) or to its URL, and the demo user's launch."""

from __future__ import annotations

from typing import Any

import pytest

from okru_asgi import payments_app
from okru_proto.apps import Payment, PaymentRejected, verify_launch
from okru_proto.testing import FakeOK
from okru_pytest import OKPayments
from tests.servers import served


def game(credited: list[str], **options: Any) -> Any:
    def handler(payment: Payment) -> None:
        if payment.product_code == "unknown":
            raise PaymentRejected(1001, "no such product")
        credited.append(payment.transaction_id)

    return payments_app(handler, app_secret_key=FakeOK.app_secret_key, application_key=FakeOK.app_key, **options)


def test_a_purchase_reaches_an_asgi_app_in_process(ok_payments: OKPayments, fake_ok: FakeOK) -> None:
    credited: list[str] = []
    app = game(credited)
    purchase = ok_payments.purchase(app, product_code="gems", amount=10, extra_attributes={"order": "7"})
    assert purchase.went_through and len(purchase.attempts) == 1 and credited == [purchase.transaction_id]
    again = ok_payments.repeat(purchase, app)  # OK repeating it: the same answer, no second credit
    assert again.status == 200 and again.header("invocation-error") is None and credited == [purchase.transaction_id]
    refused = ok_payments.purchase(app, product_code="unknown", amount=10)
    assert refused.state == "cancelled" and [a.error_code for a in refused.attempts] == [1001] * 3
    assert ok_payments.fake is fake_ok


@pytest.mark.anyio
async def test_from_an_async_test_too(ok_payments: OKPayments) -> None:
    credited: list[str] = []
    purchase = ok_payments.purchase(game(credited), product_code="gems", amount=10)
    assert purchase.went_through and len(credited) == 1


@pytest.mark.network
def test_a_purchase_reaches_a_served_url(ok_payments: OKPayments) -> None:
    credited: list[str] = []
    with served(game(credited, trusted_proxies=["127.0.0.1"])) as url:
        purchase = ok_payments.purchase(url, product_code="gems", amount=10)
    assert purchase.went_through and credited == [purchase.transaction_id]


def test_the_demo_users_launch(ok_payments: OKPayments, fake_ok: FakeOK) -> None:
    launch = verify_launch(ok_payments.launch_url("https://game.example/"), app_secret_key=fake_ok.app_secret_key)
    assert launch.logged_user_id == fake_ok.user_id
    assert ok_payments.launch_params(mobile=True)["mob"] == "true"
