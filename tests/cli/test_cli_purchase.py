"""``okru purchase`` and ``okru fake-server --payment-callback``, as separate processes, against a
game's payments_app served by uvicorn in this process."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest

from okru_asgi import payments_app
from okru_proto.apps import Payment, verify_launch
from okru_proto.testing import FakeOK
from tests.servers import served

from .conftest import Runner, assert_no_secrets, assert_one_error_line

pytestmark = pytest.mark.network


class Game:
    def __init__(self, crash_first: bool = False) -> None:
        self.calls: list[str] = []
        self.crash_first = crash_first
        self.credited = threading.Event()

    def __call__(self, payment: Payment) -> None:
        self.calls.append(payment.transaction_id)
        if self.crash_first and len(self.calls) == 1:
            raise RuntimeError("database restarting")
        self.credited.set()


@pytest.fixture
def game() -> Game:
    return Game(crash_first=True)


@pytest.fixture
def game_url(game: Game) -> Iterator[str]:
    app = payments_app(game, app_secret_key=FakeOK.app_secret_key, application_key=FakeOK.app_key,
                       prices={"gems": 10}, trusted_proxies=["127.0.0.1"])
    with served(app) as url:
        yield url


def lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_a_purchase_that_crashes_once_goes_through_on_the_second_try(okru: Runner, game: Game, game_url: str) -> None:
    result = okru("purchase", game_url, "--product-code", "gems", "--amount", "10", "--clock-speed", "100",
                  "--extra-attributes", '{"order": "заказ"}')
    assert result.returncode == 0, result.output
    tries = lines(result.stdout)
    assert [(t["try"], t["error_code"], t["success"]) for t in tries] == [(1, 2, False), (2, None, True)]
    assert float(tries[1]["after"]) >= 5  # type: ignore[arg-type]
    assert len(game.calls) == 2 and len(set(game.calls)) == 1
    assert "went through on try 2" in result.stderr
    assert_no_secrets(result.output)


def test_each_run_is_a_new_transaction_and_a_given_id_repeats(okru: Runner, game_url: str) -> None:
    game = Game()
    app = payments_app(game, app_secret_key=FakeOK.app_secret_key, trusted_proxies=["127.0.0.1"])
    with served(app) as url:
        for _ in range(2):
            assert okru("purchase", url, "--product-code", "gems", "--amount", "10").returncode == 0
        for _ in range(2):
            done = okru("purchase", url, "--product-code", "gems", "--amount", "10", "--transaction-id", "t-1")
            assert done.returncode == 0 and lines(done.stdout)[0]["success"] is True
    assert len(game.calls) == 3 and len(set(game.calls)) == 3 and game.calls[-1] == "t-1"


def test_a_foreign_secret_is_refused_three_times(okru: Runner, game: Game, game_url: str) -> None:
    result = okru("purchase", game_url, "--product-code", "gems", "--amount", "10", "--clock-speed", "1000",
                  "--app-key", "CBAMYAPP", "--app-secret-key", "my-real-secret-42")
    assert result.returncode == 1, result.output
    assert [t["error_code"] for t in lines(result.stdout)] == [104, 104, 104]
    assert "cancelled after 3 tries" in result.stderr and not game.calls
    assert_no_secrets(result.output, "my-real-secret-42")


def test_wrong_price_and_unreachable_server(okru: Runner, game: Game, game_url: str) -> None:
    result = okru("purchase", game_url, "--product-code", "gems", "--amount", "1", "--clock-speed", "1000")
    assert result.returncode == 1 and {t["error_code"] for t in lines(result.stdout)} == {1001}
    closed = okru("purchase", "http://127.0.0.1:9/ok/payment", "--product-code", "gems",
                  "--amount", "10", "--clock-speed", "1000", "--timeout", "2")
    assert closed.returncode == 1 and [t["problem"] for t in lines(closed.stdout)] == ["no answer"] * 3


@pytest.mark.parametrize(("args", "needle"), [
    (("purchase", "http://127.0.0.1:9/cb", "--product-code", "x", "--amount", "1", "--app-key", "K"), "--app-secret-key"),
    (("purchase", "http://127.0.0.1:9/cb", "--product-code", "x", "--amount", "1", "--app-secret-key", "s3cr3t-value"),
     "--app-key"),
    (("purchase", "game.example/cb", "--product-code", "x", "--amount", "1"), "not an http(s) URL"),
    (("purchase", "http://127.0.0.1:9/cb", "--product-code", "x", "--amount", "ten"), "whole number"),
    (("fake-server", "--app-url", "http://127.0.0.1:8000/"), "--payment-callback"),
    (("fake-server", "--payment-callback", "127.0.0.1:8000/cb"), "not an http(s) URL"),
])
def test_usage_errors(okru: Runner, args: tuple[str, ...], needle: str) -> None:
    line = assert_one_error_line(okru(*args), 2, needle)
    assert "s3cr3t-value" not in line


def test_fake_server_delivers_purchases_to_the_games_callback(okru: Runner, game: Game, game_url: str) -> None:
    proc = okru.popen("fake-server", "--payment-callback", game_url, "--app-url", "http://127.0.0.1:8000/play")
    try:
        url = proc.wait_line(r"^(http://127\.0\.0\.1:\d+)$").group(1)
        proc.wait_line(r"^Payments: GET .*/fake/payment")
        launch_url = proc.wait_line(r"^Launch: (\S+)$").group(1)
        assert launch_url.startswith("http://127.0.0.1:8000/play?")
        fake = FakeOK()
        launch = verify_launch(launch_url, app_secret_key=fake.app_secret_key, application_key=fake.app_key)
        assert launch.logged_user_id == fake.user_id and launch.api_server == url + "/"
        bought = httpx.get(f"{url}/fake/payment", params={"product_code": "gems", "amount": "10"}).json()
        transaction = bought["transaction_id"]
        first = json.loads(proc.wait_line(r'^\{"transaction_id"').string)
        second = json.loads(proc.wait_line(r'^\{"transaction_id"', timeout=20).string)  # 5 s later, wall clock
        assert (first["error_code"], second["success"]) == (2, True)
        assert first["transaction_id"] == second["transaction_id"] == transaction
        state = httpx.get(f"{url}/fake/payment", params={"transaction_id": transaction}).json()
        assert state["state"] == "completed" and len(state["attempts"]) == 2
        assert game.calls == [transaction, transaction]
    finally:
        proc.kill()
