"""payments_app calls its default per-process store directly, without the async twins (a cost
cut, benchmarks/apps.py): a failure there must be handled as any store's is (SERVICE, handler
not run; a credit that cannot be recorded is still answered success and logged), and the
outcome it records must be the one OK's repeats get."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from okru_asgi import payments_app
from okru_asgi.payments._memory import ProcessOnceStore
from okru_proto.apps import Payment, PaymentRejected

from ._asgi_calls import SECRET, call, signed_query


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _down(*args: Any) -> Any:
    raise OSError("store down")


@pytest.mark.anyio
async def test_the_default_store_failing_to_claim_gets_service_and_no_handler() -> None:
    credited: list[Payment] = []
    app = payments_app(credited.append, app_secret_key=SECRET, allowed_networks=None)
    assert type(app.store) is ProcessOnceStore
    app.store.claim = _down  # type: ignore[method-assign]
    assert (await call(app, signed_query("fp-1"))).error_code == 2
    assert credited == [] and app.stats["failed"] == 1


@pytest.mark.anyio
async def test_the_default_store_failing_to_record_still_answers_success(caplog: pytest.LogCaptureFixture) -> None:
    credited: list[Payment] = []
    app = payments_app(credited.append, app_secret_key=SECRET, allowed_networks=None)
    app.store.finish = _down  # type: ignore[method-assign]
    caplog.set_level(logging.ERROR, "okru.payments")
    answer = await call(app, signed_query("fp-2"))
    assert answer.status == 200 and answer.error_code is None and len(credited) == 1
    assert any("could not be recorded" in r.getMessage() for r in caplog.records)


@pytest.mark.anyio
async def test_credits_and_refusals_recorded_directly_are_what_repeats_get() -> None:
    runs: list[str] = []

    async def handler(payment: Payment) -> None:
        runs.append(payment.transaction_id)
        if payment.transaction_id == "fp-no":
            raise PaymentRejected(1001, "sold out")

    app = payments_app(handler, app_secret_key=SECRET, allowed_networks=None)
    first_ok, first_no = await call(app, signed_query("fp-ok")), await call(app, signed_query("fp-no"))
    again_ok, again_no = await call(app, signed_query("fp-ok")), await call(app, signed_query("fp-no"))
    assert runs == ["fp-ok", "fp-no"] and app.stats["repeats"] == 2
    assert (first_ok.error_code, again_ok.error_code) == (None, None) and first_ok.body == again_ok.body
    assert (first_no.error_code, again_no.error_code) == (1001, 1001) and first_no.body == again_no.body
