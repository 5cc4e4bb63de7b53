"""payments_app as a fleet: two server processes sharing one store (an SQLite file, a real Redis
server), paid by the emulator. OK's retry reaching the other server while the first one's handler
still runs gets SERVICE 2 and is not run twice; a server killed (SIGKILL) in the middle of a
handler leaves the transaction to OK's next try, which credits it once.

The handlers ask the test what to do over a loopback socket (``_payments_worker``), so every wait
here is for an event: a line from a process, a handler reporting it started. The one wait on
time is OK's own: its next try comes 5 s later (on an emulator clock running 5 times as fast),
after the killed server's claim (``claim_ttl=1``) has run out.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from okru_proto.adapter import Response
from okru_proto.testing import FakeOK, WallClock
from tests.servers import WAIT, Control, Worker, http_send

pytestmark = pytest.mark.network

WORKER = Path(__file__).with_name("_payments_worker.py")


def payments_worker(store: str, control: Control, ledger: Path, *extra: str) -> Worker:
    """One ``_payments_worker`` process; its ``address`` is its callback URL."""
    return Worker(WORKER, "--store", store, "--control", str(control.port), "--ledger", str(ledger), *extra)


@contextlib.contextmanager
def fleet(store: str, ledger: Path, *extra: str) -> Iterator[tuple[Control, Worker, Worker]]:
    control = Control()
    workers: list[Worker] = []
    try:
        workers = [payments_worker(store, control, ledger, *extra) for _ in range(2)]
        yield control, workers[0], workers[1]
    finally:
        for worker in workers:
            worker.stop()
        control.close()


def in_background(fn: Any, *args: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn(*args))
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def credits(ledger: Path) -> list[str]:
    return ledger.read_text().splitlines() if ledger.exists() else []


def test_a_retry_at_the_other_server_while_the_handler_runs_is_not_credited_twice(fleet_store: str, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"
    fake = FakeOK()
    with fleet(fleet_store, ledger, "--busy-wait", "0.2") as (control, one, two):
        purchase = fake.payments.purchase(one.address, product_code="gems", amount=10)
        # Try 1 reaches server one; its handler starts and holds on.
        first, first_answer = in_background(http_send, fake.payments.request(purchase))
        pid, transaction, held = control.next()
        assert (pid, transaction) == (one.proc.pid, purchase.transaction_id)
        fake.payments.report(purchase, None)  # OK gave up waiting for it
        # Try 2 (5 s later on OK's clock) reaches server two while one's handler still runs.
        fake.clock.advance(5)
        purchase.callback_url = two.address
        attempt = fake.payments.report(purchase, http_send(fake.payments.request(purchase)))
        assert (attempt.status, attempt.error_code) == (200, 2)
        assert control.started.empty(), "server two ran the handler of a transaction server one holds"
        # Server one's handler credits; its own answer no longer reaches OK.
        control.answer(held, "go")
        first.join(WAIT)
        assert isinstance(first_answer[0], Response) and first_answer[0].header("invocation-error") is None
        # Try 3 at server two gets the recorded outcome.
        fake.clock.advance(5)
        attempt = fake.payments.report(purchase, http_send(fake.payments.request(purchase)))
        assert attempt.success and purchase.went_through
        assert control.started.empty()
    assert credits(ledger) == [f"{one.proc.pid} {purchase.transaction_id}"]


def test_a_server_killed_in_the_middle_of_a_handler_leaves_it_to_oks_next_try(fleet_store: str, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"
    fake = FakeOK(clock=WallClock(speed=5))  # OK's 5 s between tries take 1 s
    with fleet(fleet_store, ledger, "--claim-ttl", "1") as (control, one, two):
        purchase = fake.payments.purchase(one.address, product_code="gems", amount=10)
        first, first_answer = in_background(http_send, fake.payments.request(purchase))
        pid, transaction, held = control.next()
        assert transaction == purchase.transaction_id
        assert pid == one.proc.pid
        one.proc.send_signal(signal.SIGKILL)  # in the middle of the handler: nothing recorded, nothing credited
        one.proc.wait(WAIT)
        first.join(WAIT)
        held.close()
        assert isinstance(first_answer[0], Exception)  # the connection died with the server
        fake.payments.report(purchase, None)
        purchase.callback_url = two.address
        answers: list[str] = []

        def go_when_asked() -> None:
            pid, transaction, conn = control.next()
            answers.append(f"{pid} {transaction}")
            control.answer(conn, "go")

        helper, _ = in_background(go_when_asked)
        fake.payments.run(purchase, http_send, wait=lambda seconds: time.sleep(seconds / 5))
        helper.join(WAIT)
        assert purchase.went_through and len(purchase.attempts) == 2
        assert answers == [f"{two.proc.pid} {purchase.transaction_id}"]
    assert credits(ledger) == [f"{two.proc.pid} {purchase.transaction_id}"]
