# Checked by mypy, never run (see check_api_await.py): a game's server side is typed.
from __future__ import annotations

import okru_httpx
import okru_httpx.sync
import okru_trio
from okru_asgi import payments_app
from okru_proto.apps import Launch, Payment, PaymentRejected, verify_launch


def credit(payment: Payment) -> None:
    if payment.amount > 100 and payment.product_code is not None:
        raise PaymentRejected(1001, "too much")


async def acredit(payment: Payment) -> None:
    pass


def good(query: str, app_id: int) -> None:
    launch: Launch = verify_launch(query, app_secret_key="S", application_key="K")
    okru_httpx.sync.ClientSession(app_id, **launch.session_options())
    okru_httpx.ClientSession(app_id, **launch.session_options(), timeout=5.0)
    okru_trio.ClientSession(app_id, **launch.session_options())
    payments_app(credit, app_secret_key="S", prices={"gems": 10}, format="json")
    payments_app(acredit, app_secret_key="S", allowed_networks=None, trusted_proxies=["10.0.0.5"])
    uid: str = launch.logged_user_id
    print(uid)


def mistakes(launch: Launch, app_id: int) -> None:
    okru_httpx.sync.ServerSession(app_id, **launch.session_options())  # type: ignore[misc]
    payments_app(credit, app_secret_key="S", format="html")  # type: ignore[arg-type]
    payments_app(credit, app_secret_key="S", prices={"gems": "10"})  # type: ignore[dict-item]
    payments_app(credit)  # type: ignore[call-arg]
    launch.logged_user_id = "1"  # type: ignore[misc]
