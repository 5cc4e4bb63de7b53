"""The bot developer's loop from a shell (issue 23): ``okru fake-server`` prints the bot token and
chats and delivers chat events; ``okru bot run MODULE:ROUTER --poll`` / ``--webhook`` runs a
router; ``okru bot fake-message`` makes a member write; ``chats``, ``history``, ``subscribe``."""

from __future__ import annotations

import http.server
import json
import queue
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import TIMEOUT, Runner, assert_one_error_line

pytestmark = pytest.mark.network

BOT = '''
from okru_proto.bots import Router

router = Router()
not_a_router = 42

@router.message(command="start")
async def start(event, bot, state):
    await state.set("name")
    await bot.typing(event.chat_id)
    await bot.send(event.chat_id, "Как вас зовут?")

@router.message(state="name")
async def name(event, bot, state):
    await state.clear()
    await bot.send(event.chat_id, f"Привет, {event.text}!")

@router.callback(payload="boom")
async def boom():
    raise RuntimeError("a bug in a handler")
'''


def _until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def fake_server(okru: Runner) -> Iterator[dict[str, Any]]:
    # --clock-speed 100: the emulator's retry 10 s after a failed delivery comes 0.1 s later.
    process = okru.popen("fake-server", "--clock-speed", "100")
    try:
        url = process.wait_line(r"^(http://127\.0\.0\.1:\d+)$").group(1)
        token = process.wait_line(r"bot_token=(\S+)").group(1)
        chat = process.wait_line(r"chat_id=(chat:\S+)").group(1)
        process.wait_line(r"okru bot run mybot:router --poll")
        yield {"process": process, "url": url, "token": token, "chat": chat,
               "env": {"OKRU_API_URL": url, "OKRU_BOT_TOKEN": token}}
    finally:
        process.proc.send_signal(signal.SIGINT)
        result = process.finish()
        assert result.returncode == 130, result
        assert token not in result.stderr


@pytest.fixture
def bot_module(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "bot"
    folder.mkdir()
    (folder / "mybot.py").write_text(BOT, encoding="utf-8")
    return {"PYTHONPATH": str(folder)}


def _texts(okru: Runner, env: dict[str, str], chat: str, limit: int = 5) -> list[str]:
    result = okru("bot", "history", chat, "--limit", str(limit), env=env)
    assert result.returncode == 0, result
    return [json.loads(line)["text"] for line in result.stdout.splitlines()]


def test_poll_a_router_against_the_fake_server(okru: Runner, fake_server: dict[str, Any],
                                               bot_module: dict[str, str]) -> None:
    env, chat = {**fake_server["env"], **bot_module}, fake_server["chat"]
    bot = okru.popen("bot", "run", "mybot:router", "--poll", "--poll-timeout", "5", env=env)
    try:
        # The bot subscribes for long polling by itself (OK says it is not subscribed).
        _until(lambda: "long_polling\": true" in okru("bot", "subscribe", "--long-polling", "--type",
                                                      "MESSAGE_CREATED", "--type", "MESSAGE_CALLBACK",
                                                      env=env).stdout, "a long-polling subscription")
        said = okru("bot", "fake-message", chat, "/start", env=env)
        assert said.returncode == 0 and json.loads(said.stdout)["mid"].startswith("mid:"), said
        _until(lambda: _texts(okru, env, chat)[:1] == ["Как вас зовут?"], "the bot's question")
        assert okru("bot", "fake-press", chat, "boom", env=env).returncode == 0  # a handler fails...
        assert okru("bot", "fake-message", chat, "Вася", "--user", "user:571000000002", env=env).returncode == 0
        _until(lambda: _texts(okru, env, chat)[:1] == ["Привет, Вася!"], "the bot's greeting")  # ...the bot goes on
        assert _texts(okru, env, chat) == ["Привет, Вася!", "Вася", "Как вас зовут?", "/start"]
        chats = okru("bot", "chats", env=env)
        assert [json.loads(line)["chat_id"] for line in chats.stdout.splitlines()] == [chat]
    finally:
        bot.proc.send_signal(signal.SIGINT)
        result = bot.finish()
    assert result.returncode == 130, result
    assert "stopped" in result.stderr and "a bug in a handler" in result.stderr
    assert fake_server["token"] not in result.output


class _Receiver(http.server.BaseHTTPRequestHandler):
    statuses: queue.Queue[int]
    bodies: queue.Queue[bytes]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        status = self.statuses.get_nowait() if not self.statuses.empty() else 200
        self.bodies.put(body)
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_the_fake_server_delivers_webhooks_and_redelivers_on_non_200(okru: Runner,
                                                                      fake_server: dict[str, Any]) -> None:
    env, chat = fake_server["env"], fake_server["chat"]
    handler = type("Receiver", (_Receiver,), {"statuses": queue.Queue(), "bodies": queue.Queue()})
    handler.statuses.put(500)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        subscribed = okru("bot", "subscribe", hook, "--type", "MESSAGE_CREATED", env=env)
        assert subscribed.returncode == 0 and json.loads(subscribed.stdout)["subscriptions"][0]["url"] == hook
        assert okru("bot", "subscribe", "https://bot.example/hook", env=env).returncode == 0  # not this machine
        okru("bot", "fake-message", chat, "доставка", env=env)
        first, second = handler.bodies.get(timeout=TIMEOUT), handler.bodies.get(timeout=TIMEOUT)
        assert first == second and json.loads(first)["message"]["text"] == "доставка"
        assert json.loads(first)["webhookType"] == "MESSAGE_CREATED"
        log = fake_server["process"]
        _until(lambda: any("-> HTTP 200" in line for line in log.stderr), "the delivery log")
        lines = [line for line in log.stderr if line.startswith("webhook ")]
        assert re.search(r"MESSAGE_CREATED \(attempt 1\) -> HTTP 500; OK retries later", "".join(lines))
        assert re.search(r"MESSAGE_CREATED \(attempt 2\) -> HTTP 200", "".join(lines))
        assert any("https://bot.example/hook: not a loopback address" in line for line in lines)
        dropped = okru("bot", "subscribe", hook, "--unsubscribe", env=env)
        assert hook not in dropped.stdout
    finally:
        server.shutdown()
        server.server_close()


def test_run_a_router_behind_a_webhook(okru: Runner, fake_server: dict[str, Any], bot_module: dict[str, str]) -> None:
    env, chat = {**fake_server["env"], **bot_module}, fake_server["chat"]
    bot = okru.popen("bot", "run", "mybot:router", "--webhook", "--any-source", env=env)
    try:
        hook = bot.wait_line(r"^(http://127\.0\.0\.1:\d+/)$").group(1)
        assert okru("bot", "subscribe", hook, env=env).returncode == 0
        okru("bot", "fake-message", chat, "/start", env=env)
        _until(lambda: _texts(okru, env, chat)[:1] == ["Как вас зовут?"], "the bot's question")
        okru("bot", "fake-message", chat, "Маша", env=env)
        _until(lambda: _texts(okru, env, chat)[:1] == ["Привет, Маша!"], "the bot's greeting")
    finally:
        bot.proc.send_signal(signal.SIGINT)
        result = bot.finish()
    assert result.returncode == 0, result


@pytest.mark.parametrize(("args", "needle"), [
    (["bot", "run", "mybot:router"], "--poll or --webhook"),
    (["bot", "run", "mybot:router", "--poll", "--webhook"], "--poll or --webhook"),
    (["bot", "run", "nosuchmodule:router", "--poll"], "cannot import 'nosuchmodule'"),
    (["bot", "run", "mybot", "--poll"], "MODULE:ROUTER"),
    (["bot", "run", "mybot:missing", "--poll"], "has no 'missing'"),
    (["bot", "run", "mybot:not_a_router", "--poll"], "not an okru_proto.bots.Router"),
    (["bot", "subscribe"], "--long-polling"),
    (["bot", "subscribe", "https://x/", "--long-polling"], "--long-polling"),
])
def test_mistakes_are_one_line(okru: Runner, bot_module: dict[str, str], args: list[str], needle: str) -> None:
    result = okru(*args, env={**bot_module, "OKRU_BOT_TOKEN": "tkn1demoBOT:CQABPOJKAKEKEKEKE",
                              "OKRU_API_URL": "http://127.0.0.1:9"})
    assert_one_error_line(result, 2, needle)
    assert "CQABPOJKAKEKEKEKE" not in result.output


def test_fake_message_needs_the_emulator(okru: Runner) -> None:
    result = okru("bot", "fake-message", "chat:C1", "x", env={"OKRU_BOT_TOKEN": "tkn1demoBOT:CQABPOJKAKEKEKEKE",
                                                               "OKRU_API_URL": "http://127.0.0.1:9"})
    assert_one_error_line(result, 4, "did not answer", "okru fake-server")

