"""okru_asgi.payments_app in-process, on asyncio and trio (virtual time where time matters):
GET only, OK's networks and trusted proxies (one WARNING per address), signature then prices then
the handler, sync and async handlers, exactly once per transaction, PaymentRejected, failures and
deadlines answered SERVICE 2, a repeat waiting for another server's handler, claims renewed while
a handler runs, store failures, the JSON variant, and no secret in any log line."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import trio
import trio.testing

from okru_asgi import PaymentsApp, payments_app
from okru_asgi.payments._memory import ProcessOnceStore
from okru_proto import UsageError
from okru_proto.apps import Payment, PaymentRejected
from okru_stores import Claim, MemoryStore

from ._asgi_calls import APP_KEY, SECRET, Answer, call, lifespan, signed_query

SUCCESS = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
           b'<callbacks_payment_response xmlns="http://api.forticom.com/1.0/">true</callbacks_payment_response>')


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Ledger:
    """A game's handler that records what it credited (sync or async)."""

    def __init__(self) -> None:
        self.credited: list[Payment] = []
        self.threads: list[int] = []

    def sync(self, payment: Payment) -> None:
        self.threads.append(threading.get_ident())
        self.credited.append(payment)

    async def async_(self, payment: Payment) -> None:
        await anyio.sleep(0)
        self.credited.append(payment)


def app_for(handler: Callable[[Payment], Any], **options: Any) -> PaymentsApp:
    options.setdefault("app_secret_key", SECRET)
    return payments_app(handler, **options)


def is_success(answer: Answer) -> bool:
    return answer.status == 200 and answer.error_code is None and answer.body == SUCCESS


def run_virtual(main: Callable[[], Any]) -> None:
    """``main`` under trio on a virtual clock: time jumps whenever every task waits."""
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def served(app: PaymentsApp, with_lifespan: bool) -> Any:
    """The app as a server runs it: with the lifespan (one task renews every claim) or without
    (each request renews its own)."""
    return lifespan(app) if with_lifespan else contextlib.nullcontext()


both_modes = pytest.mark.parametrize("with_lifespan", [True, False], ids=["lifespan", "no-lifespan"])


# -- the request before the payment ---------------------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("method", ["POST", "PUT", "HEAD", "DELETE"])
async def test_get_only(method: str) -> None:
    ledger = Ledger()
    answer = await call(app_for(ledger.sync), signed_query(), method=method)
    assert (answer.status, answer.headers.get("allow"), answer.body) == (405, "GET", b"")
    assert not ledger.credited


@pytest.mark.anyio
async def test_only_oks_networks_by_default_with_one_warning_per_address(caplog: pytest.LogCaptureFixture) -> None:
    ledger = Ledger()
    app = app_for(ledger.sync)
    caplog.set_level(logging.WARNING, "okru.payments")
    for address in ("217.20.145.193", "217.20.151.170", "217.20.153.62"):
        assert is_success(await call(app, signed_query(address), client=(address, 1)))
    for _ in range(3):
        assert (await call(app, signed_query("x"), client=("10.1.2.3", 1))).status == 403
    assert (await call(app, signed_query("y"), client=("217.20.145.208", 1))).status == 403  # just outside
    assert (await call(app, signed_query("z"), client=None)).status == 403
    assert (await call(app, signed_query("z"), client=None)).status == 403
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3, warnings  # one per address, not one per request
    assert "10.1.2.3" in warnings[0] and "allowed_networks" in warnings[0] and "trusted_proxies" in warnings[0]
    assert "217.20.145.208" in warnings[1] and "unknown" in warnings[2]
    assert len(ledger.credited) == 3 and app.stats["refused"] == 6


@pytest.mark.anyio
async def test_any_source_and_ipv6_mapped() -> None:
    ledger = Ledger()
    assert is_success(await call(app_for(ledger.sync, allowed_networks=None), signed_query(), client=("10.0.0.1", 1)))
    app = app_for(ledger.sync)
    assert is_success(await call(app, signed_query("2"), client=("::ffff:217.20.145.193", 1)))
    assert (await call(app_for(ledger.sync, allowed_networks="10.0.0.0/8"), signed_query("3"),
                       client=("10.9.9.9", 1))).status == 200


@pytest.mark.anyio
@pytest.mark.parametrize(("peer", "forwarded", "allowed"), [
    ("127.0.0.1", ["217.20.145.193"], True),
    ("127.0.0.1", ["203.0.113.9, 217.20.145.193"], True),       # the client wrote the first hop
    ("127.0.0.1", ["217.20.145.193, 203.0.113.9"], False),      # the proxy saw 203.0.113.9
    ("127.0.0.1", ["217.20.145.193, 10.0.0.2"], True),          # two trusted proxies in a row
    ("127.0.0.1", ["217.20.145.193", "203.0.113.9"], False),    # two headers: the last one is nearest
    ("127.0.0.1", ["not-an-address"], False),
    ("127.0.0.1", [], False),                                   # the proxy itself is not OK
    ("203.0.113.9", ["217.20.145.193"], False),                 # an untrusted peer's header is ignored
])
async def test_forwarded_for_only_from_trusted_proxies(peer: str, forwarded: list[str], allowed: bool) -> None:
    ledger = Ledger()
    app = app_for(ledger.sync, trusted_proxies=["127.0.0.1", "10.0.0.0/8"])
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    answer = await call(app, signed_query(), client=(peer, 1), headers=headers)
    assert (answer.status == 200) is allowed and len(ledger.credited) == int(allowed)


@pytest.mark.anyio
async def test_signature_then_prices_then_the_handler() -> None:
    ledger = Ledger()
    app = app_for(ledger.sync, prices={"gems_100": 10}, application_key=APP_KEY)
    bad_sig = signed_query(secret="another", amount="11")  # a wrong price too: the signature is checked first
    assert (await call(app, bad_sig)).error_code == 104
    assert (await call(app, signed_query(amount="9"))).error_code == 1001
    assert (await call(app, signed_query(product_code="gems_999"))).error_code == 1001
    assert (await call(app, signed_query(amount="ten"))).error_code == 1001
    assert (await call(app, signed_query("9", uid_extra="x"))).status == 200
    assert not ledger.credited[1:] and len(ledger.credited) == 1
    assert app.stats["invalid"] == 4
    long = await call(app, signed_query(padding="x" * 9000))
    assert (long.status, long.error_code) == (414, 1001)


@pytest.mark.anyio
async def test_sync_and_async_handlers_credit_once_per_transaction() -> None:
    ledger = Ledger()
    for handler in (ledger.sync, ledger.async_):
        app = app_for(handler)
        answers = [await call(app, signed_query("t-1")) for _ in range(3)]
        assert all(is_success(a) for a in answers)
        assert (app.stats["credited"], app.stats["repeats"]) == (1, 2)
    assert [p.transaction_id for p in ledger.credited] == ["t-1", "t-1"]  # once per app (each its own memory)
    assert ledger.threads[0] != threading.get_ident()  # the plain function ran in a worker thread


@pytest.mark.anyio
async def test_the_default_store_is_this_process_memory() -> None:
    app = app_for(Ledger().sync)
    assert isinstance(app.store, ProcessOnceStore)
    await call(app, signed_query("t-9"))
    assert app.store.claim("okru.payment:17:CBAEXAMPLEABABABA:t-9", "probe", 1.0).status == "done"


@pytest.mark.anyio
async def test_an_empty_transaction_id_is_never_a_key() -> None:
    ledger = Ledger()
    app = app_for(ledger.sync)
    for _ in range(2):
        assert is_success(await call(app, signed_query("", trial_days="7")))
    assert len(ledger.credited) == 2
    assert app.store.claim("okru.payment:17:CBAEXAMPLEABABABA:", "probe", 1.0).status == "claimed"  # nothing kept


@pytest.mark.anyio
async def test_a_rejection_is_answered_with_its_code_and_recorded() -> None:
    calls: list[str] = []

    async def handler(payment: Payment) -> None:
        calls.append(payment.transaction_id)
        raise PaymentRejected(1001, "Unknown order")

    app = app_for(handler)
    for _ in range(2):
        answer = await call(app, signed_query("r-1"))
        assert (answer.status, answer.error_code) == (200, 1001)
        assert b"<error_msg>CALLBACK_INVALID_PAYMENT : Unknown order</error_msg>" in answer.body
    assert calls == ["r-1"] and app.stats["rejected"] == 1 and app.stats["repeats"] == 1


@pytest.mark.anyio
async def test_service_from_the_handler_is_not_recorded() -> None:
    calls: list[int] = []

    def handler(payment: Payment) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise PaymentRejected(2, "database is restarting")

    app = app_for(handler)
    first = await call(app, signed_query("s-1"))
    assert first.error_code == 2 and b"SERVICE : database is restarting" in first.body
    assert is_success(await call(app, signed_query("s-1")))
    assert is_success(await call(app, signed_query("s-1")))
    assert len(calls) == 2


@pytest.mark.anyio
async def test_a_crashing_handler_gets_service_without_its_text_and_the_retry_credits(
        caplog: pytest.LogCaptureFixture) -> None:
    ledger = Ledger()

    def handler(payment: Payment) -> None:
        if not ledger.threads:
            ledger.threads.append(0)
            raise RuntimeError("db password is hunter2")
        ledger.sync(payment)

    app = app_for(handler)
    caplog.set_level(logging.DEBUG)
    first = await call(app, signed_query("c-1"))
    assert (first.status, first.error_code) == (200, 2)
    assert b"hunter2" not in first.body and b"RuntimeError" not in first.body
    assert b"SERVICE : Service temporary unavailable" in first.body
    failed = [r for r in caplog.records if r.name == "okru.payments" and r.levelno == logging.ERROR]
    assert len(failed) == 1 and failed[0].exc_info is not None and "c-1" in failed[0].getMessage()
    assert is_success(await call(app, signed_query("c-1")))
    assert is_success(await call(app, signed_query("c-1")))
    assert len(ledger.credited) == 1 and app.stats["failed"] == 1


@pytest.mark.anyio
async def test_the_json_variant() -> None:
    def handler(payment: Payment) -> None:
        if payment.product_code == "bad":
            raise PaymentRejected(1001, "no such item")

    app = app_for(handler, format="json")
    ok = await call(app, signed_query("j-1"))
    assert (ok.body, ok.headers["content-type"], ok.error_code) == (b"true", "application/json", None)
    bad = await call(app, signed_query("j-2", product_code="bad"))
    assert bad.error_code == 1001 and bad.headers["content-type"] == "application/json"
    assert bad.body == b'{"error_code":1001,"error_msg":"CALLBACK_INVALID_PAYMENT : no such item","error_data":null}'


# -- time: deadlines, busy repeats, renewed claims (virtual time on trio) ----------------------------

@both_modes
def test_an_async_handler_past_its_deadline_is_cancelled_and_runs_again_on_the_next_try(with_lifespan: bool) -> None:
    events: list[str] = []

    async def handler(payment: Payment) -> None:
        if events:
            events.append("credited")
            return
        events.append("started")
        try:
            await anyio.sleep(3600)
        finally:
            events.append("cancelled")

    async def main() -> None:
        app = app_for(handler, timeout=5.0)
        async with served(app, with_lifespan):
            start = trio.current_time()
            first = await call(app, signed_query("d-1"))
            assert first.error_code == 2 and trio.current_time() - start == pytest.approx(5.0)
            assert events == ["started", "cancelled"] and app.stats["timeouts"] == 1
            assert is_success(await call(app, signed_query("d-1")))  # released: the next try ran it
            assert is_success(await call(app, signed_query("d-1")))
            assert events == ["started", "cancelled", "credited"]

    run_virtual(main)


@both_modes
def test_a_thread_past_its_deadline_keeps_the_transaction_and_its_outcome_is_recorded(with_lifespan: bool) -> None:
    release = threading.Event()
    ran: list[str] = []

    def handler(payment: Payment) -> None:
        ran.append(payment.transaction_id)
        assert release.wait(30)

    async def main() -> None:
        app = app_for(handler, timeout=5.0, busy_wait=0.0)
        answers: list[Answer] = []

        async def first() -> None:
            answers.append(await call(app, signed_query("d-2")))

        async with served(app, with_lifespan), trio.open_nursery() as nursery:
            nursery.start_soon(first)
            while not app.stats["timeouts"]:
                await trio.sleep(1)
            # It answered SERVICE 2 at its deadline; the thread still runs and holds the claim.
            # OK's next try while the thread still runs: SERVICE 2, the handler is not run again.
            repeat = await call(app, signed_query("d-2"))
            assert repeat.error_code == 2 and app.stats["busy"] == 1
            release.set()
            while app.runner.live:  # the thread's outcome is recorded when it returns
                await trio.sleep(1)
        assert answers[0].error_code == 2
        assert is_success(await call(app, signed_query("d-2")))
        assert ran == ["d-2"] and app.stats["credited"] == 1

    # The thread blocks in real time; the nursery's virtual sleeps let the deadline pass first.
    trio.run(main, clock=trio.testing.MockClock(rate=1000))


@pytest.mark.parametrize(("release_after", "repeat_gets"), [(1.0, "success"), (3.0, "service")])
def test_a_repeat_waits_busy_wait_for_the_running_handler(release_after: float, repeat_gets: str) -> None:
    runs: list[str] = []

    async def main() -> None:
        gate = trio.Event()

        async def handler(payment: Payment) -> None:
            runs.append(payment.transaction_id)
            await gate.wait()

        app = app_for(handler, busy_wait=2.0)
        answers: dict[str, Answer] = {}

        async def ask(name: str) -> None:
            answers[name] = await call(app, signed_query("b-1"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask, "first")
            await trio.sleep(0.5)
            nursery.start_soon(ask, "repeat")
            await trio.sleep(release_after)
            gate.set()
        assert is_success(answers["first"])
        assert is_success(answers["repeat"]) is (repeat_gets == "success")
        if repeat_gets == "service":
            assert answers["repeat"].error_code == 2 and app.stats["busy"] == 1
        assert runs == ["b-1"]

    run_virtual(main)


@both_modes
def test_a_long_handler_renews_its_claim_so_no_other_server_runs_it(with_lifespan: bool) -> None:
    runs: list[str] = []

    async def main() -> None:
        store = MemoryStore(clock=trio.current_time)
        gate = trio.Event()

        async def handler(payment: Payment) -> None:
            runs.append(payment.transaction_id)
            await gate.wait()

        # Two "servers" sharing one store; each claim lives 3 s unless renewed.
        one = app_for(handler, store=store, claim_ttl=3.0, timeout=60.0, busy_wait=0.0)
        two = app_for(handler, store=store, claim_ttl=3.0, timeout=60.0, busy_wait=0.0)
        answers: list[Answer] = []

        async def first() -> None:
            answers.append(await call(one, signed_query("l-1")))

        async with served(one, with_lifespan), trio.open_nursery() as nursery:
            nursery.start_soon(first)
            for _ in range(4):  # 40 s, far past the claim's 3 s: renewed every second
                await trio.sleep(10)
                assert (await call(two, signed_query("l-1"))).error_code == 2
            gate.set()
        assert is_success(answers[0])
        assert is_success(await call(two, signed_query("l-1")))
        assert runs == ["l-1"] and two.stats["busy"] == 4 and two.stats["repeats"] == 1

    run_virtual(main)


def test_a_dead_holder_frees_the_transaction_after_claim_ttl() -> None:
    async def main() -> None:
        store = MemoryStore(clock=trio.current_time)
        assert store.claim("okru.payment:17:CBAEXAMPLEABABABA:k-1", "a dead process", 4.0) == Claim("claimed")
        ledger = Ledger()
        app = app_for(ledger.async_, store=store, busy_wait=0.0)
        assert (await call(app, signed_query("k-1"))).error_code == 2
        await trio.sleep(4.0)
        assert is_success(await call(app, signed_query("k-1")))
        assert len(ledger.credited) == 1

    run_virtual(main)


# -- the store failing -------------------------------------------------------------------------------

class BrokenStore(MemoryStore):
    def __init__(self, broken: str) -> None:
        super().__init__()
        self.broken = broken

    async def aclaim(self, key: str, holder: str, ttl: float) -> Claim:
        if self.broken == "claim":
            raise OSError("store down")
        return await super().aclaim(key, holder, ttl)

    async def afinish(self, key: str, holder: str, outcome: str, keep: float) -> bool:
        if self.broken == "finish":
            raise OSError("store down")
        return await super().afinish(key, holder, outcome, keep)


@pytest.mark.anyio
async def test_a_store_that_cannot_claim_gets_service_and_the_handler_is_not_run() -> None:
    ledger = Ledger()
    app = app_for(ledger.sync, store=BrokenStore("claim"))
    assert (await call(app, signed_query("f-1"))).error_code == 2
    assert not ledger.credited


@pytest.mark.anyio
async def test_a_credit_the_store_cannot_record_is_still_answered_success(caplog: pytest.LogCaptureFixture) -> None:
    ledger = Ledger()
    app = app_for(ledger.sync, store=BrokenStore("finish"))
    caplog.set_level(logging.ERROR, "okru.payments")
    assert is_success(await call(app, signed_query("f-2")))
    assert len(ledger.credited) == 1
    assert any("could not be recorded" in r.getMessage() for r in caplog.records)


# -- the rest of ASGI, construction, secrets ---------------------------------------------------------

@pytest.mark.anyio
async def test_lifespan_and_websocket() -> None:
    app = app_for(Ledger().sync)
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    await app({"type": "websocket"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete",
                                         "websocket.close"]


@pytest.mark.parametrize(("options", "message"), [
    ({"app_secret_key": ""}, "app_secret_key"),
    ({"format": "html"}, "format"),
    ({"prices": {"gems": "10"}}, "prices"),
    ({"prices": {"gems": True}}, "prices"),
    ({"prices": [("gems", 10)]}, "prices"),
    ({"allowed_networks": ["300.0.0.0/8"]}, "allowed_networks"),
    ({"trusted_proxies": ["proxy"]}, "trusted_proxies"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": float("inf")}, "timeout"),
    ({"busy_wait": 10.0}, "busy_wait"),
    ({"claim_ttl": -1}, "claim_ttl"),
    ({"keep": 0}, "keep"),
    ({"max_handlers": 0}, "max_handlers"),
    ({"store": object()}, "store"),
    ({"application_key": ""}, "application_key"),
])
def test_bad_options_are_usage_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        app_for(Ledger().sync, **options)
    with pytest.raises(UsageError, match="handler"):
        payments_app(None, app_secret_key=SECRET)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_the_app_secret_never_reaches_a_log_line_or_an_answer(caplog: pytest.LogCaptureFixture) -> None:
    def handler(payment: Payment) -> None:
        if payment.transaction_id == "boom":
            raise ValueError("failed")

    app = app_for(handler, prices={"gems_100": 10})
    caplog.set_level(logging.DEBUG)
    bodies = []
    for query in (signed_query("a"), signed_query("a"), signed_query("boom"), signed_query(secret="wrong"),
                  signed_query(amount="1"), "garbage=%FF"):
        bodies.append((await call(app, query)).body)
        bodies.append((await call(app, query, client=("10.0.0.1", 1))).body)
    text = " ".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert caplog.records and SECRET not in text and SECRET not in repr(app)
    assert all(SECRET.encode() not in body for body in bodies)


def test_max_handlers_bounds_the_handlers_running_at_once() -> None:
    running: list[str] = []
    most: list[int] = [0]

    async def main() -> None:
        gate = trio.Event()

        async def handler(payment: Payment) -> None:
            running.append(payment.transaction_id)
            most[0] = max(most[0], len(running))
            if payment.transaction_id == "m-1":
                await gate.wait()
            running.remove(payment.transaction_id)

        app = app_for(handler, max_handlers=1, timeout=10.0)
        answers: dict[str, Answer] = {}

        async def ask(transaction: str) -> None:
            answers[transaction] = await call(app, signed_query(transaction))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask, "m-1")
            await trio.sleep(0.5)
            nursery.start_soon(ask, "m-2")  # another payment: waits for the one slot
            await trio.sleep(3)
            assert running == ["m-1"] and "m-2" not in answers
            gate.set()
        assert most[0] == 1 and is_success(answers["m-1"]) and is_success(answers["m-2"])

    run_virtual(main)


def test_slots_hand_over_in_order_and_time_out() -> None:
    from okru_asgi.payments._slots import Slots

    async def main() -> None:
        slots = Slots(1)
        assert slots.take() and not slots.take()
        got: list[str] = []

        async def waiter(name: str, deadline: float) -> None:
            if await slots.wait(deadline):
                got.append(name)
            else:
                got.append(name + " timed out")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter, "first", trio.current_time() + 5)
            await trio.sleep(0.1)
            nursery.start_soon(waiter, "second", trio.current_time() + 1)
            await trio.sleep(2)  # the second gave up; the first still waits
            assert got == ["second timed out"] and len(slots.waiters) == 1
            slots.give()  # handed to the first: the count stays
        assert got == ["second timed out", "first"] and slots.running == 1
        slots.give()
        assert slots.running == 0 and slots.take()
        with trio.move_on_after(1):  # a waiter cancelled leaves the queue
            await slots.wait(trio.current_time() + 10)
        assert not slots.waiters

    run_virtual(main)
