"""fake.payments: the emulator playing OK's side of a game. Launch parameters signed as OK signs
them (okru verifies them; the session works for REST calls), purchases whose callbacks okru
parses, and OK's delivery rule: 3 tries, 5 s apart on the emulator's clock, success only for the
documented answer."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlsplit

import pytest

from okru_proto import UsageError
from okru_proto.adapter import Response
from okru_proto.apps import error_reply, parse_payment, payment_reply, verify_launch
from okru_proto.testing import FakeOK, Purchase

from .helpers import body, call

SUCCESS_XML = payment_reply()


def answer(reply: object) -> Response:
    return Response(reply.status, reply.headers, reply.body)  # type: ignore[attr-defined]


def test_a_launch_verifies_and_its_session_calls_rest(fake: FakeOK) -> None:
    url = fake.payments.launch_url("https://game.example/app?lang=ru", refplace="friend_feed", custom_args="x=1")
    assert url.startswith("https://game.example/app?lang=ru&api_server=")
    params = dict(parse_qsl(urlsplit(url).query))
    del params["lang"]  # the app's own parameter, not OK's
    launch = verify_launch(params, app_secret_key=fake.app_secret_key, application_key=fake.app_key)
    assert launch.logged_user_id == fake.user_id and launch.authorized and launch.container and not launch.mob
    assert (launch.refplace, launch.custom_args, launch.api_server) == ("friend_feed", "x=1", "https://api.ok.ru/")
    assert params["auth_sig"] == hashlib.md5(
        (fake.user_id + launch.session_key + fake.app_secret_key).encode()).hexdigest()
    token = {"access_token": launch.session_key, "session_secret_key": launch.session_secret_key}
    assert body(call(fake, "users.getCurrentUser", token=token))["uid"] == fake.user_id


def test_a_mobile_launch_and_another_user(fake: FakeOK) -> None:
    params = fake.payments.launch_params(login="ivan", mobile=True, first_start=True)
    launch = verify_launch(params, app_secret_key=fake.app_secret_key)
    assert (launch.logged_user_id, launch.mob, launch.mob_platform, launch.container, launch.first_start) == (
        "571000000002", True, "mobweb", False, True)
    with pytest.raises(UsageError):
        fake.payments.launch_params(login="nobody")


def test_a_purchase_is_a_signed_callback_okru_reads(fake: FakeOK) -> None:
    fake.clock.advance(3600 + 61)
    purchase = fake.payments.purchase("https://game.example/ok/payment", product_code="gems_100", amount=10,
                                      extra_attributes={"order": "заказ 7"}, product_option="big")
    assert purchase.state == "pending" and purchase.due == fake.now and not purchase.went_through
    assert purchase.url.startswith("https://game.example/ok/payment?application_key=")
    payment = parse_payment(purchase.url, app_secret_key=fake.app_secret_key, application_key=fake.app_key)
    assert (payment.uid, payment.transaction_id, payment.amount) == (fake.user_id, purchase.transaction_id, 10)
    assert payment.transaction_time == "2024-01-01 01:01:01"
    assert payment.extra_attributes == {"order": "заказ 7"} and payment.product_option == "big"
    assert payment.raw["method"] == "callbacks.payment"
    other = fake.payments.purchase("https://game.example/ok/payment", product_code="gems_100", amount=10)
    assert other.transaction_id != purchase.transaction_id
    assert list(fake.payments.purchases) == [purchase.transaction_id, other.transaction_id]
    request = fake.payments.request(purchase)
    assert (request.method, request.url, request.header("x-forwarded-for")) == ("GET", purchase.url, "217.20.145.193")


def test_subscription_events_and_bad_purchases(fake: FakeOK) -> None:
    event = fake.payments.purchase("http://127.0.0.1:9/cb", product_code="vip", amount=0, transaction_id="",
                                   trial_days=7)
    assert parse_payment(event.url, app_secret_key=fake.app_secret_key).trial_days == 7
    assert "" not in fake.payments.purchases
    for amount in (-1, 1.5, "10"):
        with pytest.raises(UsageError, match="amount"):
            fake.payments.purchase("http://127.0.0.1:9/cb", product_code="x", amount=amount)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="callback_url"):
        fake.payments.purchase("game.example/cb", product_code="x", amount=1)


@pytest.mark.parametrize(("reply", "success", "code", "problem"), [
    (answer(payment_reply()), True, None, None),
    (answer(payment_reply(format="json")), True, None, None),
    (Response(200, (("content-type", "application/xml"),), b"<callbacks_payment_response>true</callbacks_payment_response>"),
     True, None, None),
    (answer(error_reply(2)), False, 2, None),
    (answer(error_reply(1001, format="json")), False, 1001, None),
    (Response(200, (), error_reply(1001).body), False, None, "an error body without the Invocation-error header"),
    (Response(500, (), b"oops"), False, None, "HTTP 500"),
    (Response(200, (), b"ok"), False, None, "neither OK's XML nor JSON success body"),
    (Response(200, (), b"<html>true</html>"), False, None, "an XML body that is not callbacks_payment_response"),
    (None, False, None, "no answer"),
])
def test_which_answers_count_as_success(fake: FakeOK, reply: Response | None, success: bool, code: int | None,
                                        problem: str | None) -> None:
    purchase = fake.payments.purchase("http://127.0.0.1:9/cb", product_code="x", amount=1)
    attempt = fake.payments.report(purchase, reply)
    assert (attempt.success, attempt.error_code, attempt.problem) == (success, code, problem)
    assert purchase.state == ("completed" if success else "pending")


def test_three_tries_five_seconds_apart_then_cancelled(fake: FakeOK) -> None:
    purchase = fake.payments.purchase("http://127.0.0.1:9/cb", product_code="x", amount=1)
    sent: list[float] = []

    def send(request: object) -> Response:
        sent.append(fake.now)
        return answer(error_reply(2))

    start = fake.now
    fake.payments.run(purchase, send)
    assert sent == [start, start + 5, start + 10] and purchase.state == "cancelled" and purchase.due is None
    assert [a.error_code for a in purchase.attempts] == [2, 2, 2]
    with pytest.raises(UsageError, match="already cancelled"):
        fake.payments.report(purchase, None)


def test_the_first_success_completes_and_exceptions_are_no_answer(fake: FakeOK) -> None:
    purchase = fake.payments.purchase("http://127.0.0.1:9/cb", product_code="x", amount=1)
    replies: list[Response | Exception] = [ConnectionResetError("reset"), answer(payment_reply())]
    waited: list[float] = []

    def send(request: object) -> Response:
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    before = fake.now
    fake.payments.run(purchase, send, wait=lambda seconds: (waited.append(seconds), fake.clock.advance(seconds)))
    assert purchase.went_through and [a.problem for a in purchase.attempts] == ["no answer", None]
    assert waited == [5.0] and fake.now == before + 5


def test_due_lists_the_purchases_waiting_for_their_next_try(fake: FakeOK) -> None:
    first = fake.payments.purchase("http://127.0.0.1:9/cb", product_code="x", amount=1)
    second = fake.payments.purchase("http://127.0.0.1:9/cb", product_code="x", amount=1)
    assert fake.payments.due() == [first, second]
    fake.payments.report(first, None)
    fake.payments.report(second, answer(payment_reply()))
    assert fake.payments.due() == []
    fake.clock.advance(5)
    assert fake.payments.due() == [first]
    assert isinstance(first, Purchase)
