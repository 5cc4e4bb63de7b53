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
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from okru_proto.adapter import Response
from okru_proto.testing import FakeOK, WallClock
from tests.stores.conftest import RedisServer, free_port, server_binary

from ._asgi_servers import WAIT, http_send

pytestmark = pytest.mark.network

WORKER = Path(__file__).with_name("_payments_worker.py")


class Control:
    """The test's end of the handlers' questions: each ``started`` arrives with its connection,
    answered by :meth:`answer`."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.started: queue.Queue[tuple[int, str, socket.socket]] = queue.Queue()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            line = conn.makefile().readline().split()
            self.started.put((int(line[1]), line[2], conn))

    def next_started(self) -> tuple[int, str, socket.socket]:
        return self.started.get(timeout=WAIT)

    @staticmethod
    def answer(conn: socket.socket, word: str) -> None:
        with conn:
            conn.sendall(f"{word}\n".encode())

    def close(self) -> None:
        self.sock.close()


class Worker:
    def __init__(self, store: str, control: Control, ledger: Path, *extra: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(WORKER), "--store", store, "--control", str(control.port),
                                      "--ledger", str(ledger), *extra], stdout=subprocess.PIPE, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.proc.stdout or ()], daemon=True).start()
        line = lines.get(timeout=WAIT)
        assert line.startswith("READY "), line
        self.url = line.split()[1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(WAIT)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(server_binary(), free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'outcomes.sqlite3'}"
    url: str = request.getfixturevalue("redis_url")
    import redis

    with redis.Redis.from_url(url) as client:
        client.flushall()
    return url


@contextlib.contextmanager
def fleet(store: str, ledger: Path, *extra: str) -> Iterator[tuple[Control, Worker, Worker]]:
    control = Control()
    workers: list[Worker] = []
    try:
        workers = [Worker(store, control, ledger, *extra) for _ in range(2)]
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


def test_a_retry_at_the_other_server_while_the_handler_runs_is_not_credited_twice(
        store: str, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"
    fake = FakeOK()
    with fleet(store, ledger, "--busy-wait", "0.2") as (control, one, two):
        purchase = fake.payments.purchase(one.url, product_code="gems", amount=10)
        # Try 1 reaches server one; its handler starts and holds on.
        first, first_answer = in_background(http_send, fake.payments.request(purchase))
        pid, transaction, held = control.next_started()
        assert (pid, transaction) == (one.proc.pid, purchase.transaction_id)
        fake.payments.report(purchase, None)  # OK gave up waiting for it
        # Try 2 (5 s later on OK's clock) reaches server two while one's handler still runs.
        fake.clock.advance(5)
        purchase.callback_url = two.url
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


def test_a_server_killed_in_the_middle_of_a_handler_leaves_it_to_oks_next_try(store: str, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"
    fake = FakeOK(clock=WallClock(speed=5))  # OK's 5 s between tries take 1 s
    with fleet(store, ledger, "--claim-ttl", "1") as (control, one, two):
        purchase = fake.payments.purchase(one.url, product_code="gems", amount=10)
        first, first_answer = in_background(http_send, fake.payments.request(purchase))
        pid, transaction, held = control.next_started()
        assert transaction == purchase.transaction_id
        assert pid == one.proc.pid
        one.proc.send_signal(signal.SIGKILL)  # in the middle of the handler: nothing recorded, nothing credited
        one.proc.wait(WAIT)
        first.join(WAIT)
        held.close()
        assert isinstance(first_answer[0], Exception)  # the connection died with the server
        fake.payments.report(purchase, None)
        purchase.callback_url = two.url
        answers: list[str] = []

        def go_when_asked() -> None:
            pid, transaction, conn = control.next_started()
            answers.append(f"{pid} {transaction}")
            control.answer(conn, "go")

        helper, _ = in_background(go_when_asked)
        fake.payments.run(purchase, http_send, wait=lambda seconds: time.sleep(seconds / 5))
        helper.join(WAIT)
        assert purchase.went_through and len(purchase.attempts) == 2
        assert answers == [f"{two.proc.pid} {purchase.transaction_id}"]
    assert credits(ledger) == [f"{two.proc.pid} {purchase.transaction_id}"]
