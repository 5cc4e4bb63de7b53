"""``okru bot info|send|serve`` against the emulator on loopback."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from okru.__main__ import main as _main  # noqa: F401  (the entry point exists)
from okru._cli import run
from okru_proto.testing import FakeOK
from okru_trio.testing import run_fake_server
from tests.servers import WAIT, deliver_due

pytestmark = pytest.mark.network


@pytest.fixture
def emulator() -> Iterator[tuple[FakeOK, str]]:
    fake = FakeOK()
    with run_fake_server(fake) as url:
        yield fake, url


def test_info_and_send(emulator: tuple[FakeOK, str], capsys: pytest.CaptureFixture[str],
                       monkeypatch: pytest.MonkeyPatch) -> None:
    fake, url = emulator
    monkeypatch.setenv("OKRU_BOT_TOKEN", fake.bots.access_token)
    assert run(["bot", "info", "--api-url", url]) == 0
    assert json.loads(capsys.readouterr().out) == {"name": "Demo group", "group_id": "group:53000000000001"}
    assert run(["bot", "send", fake.bots.chat_id, "Привет", "--api-url", url]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["chat_id"] == fake.bots.chat_id and out["message_id"].startswith("mid:")
    assert [m["message"]["text"] for m in fake.bots.sent(fake.bots.chat_id)] == ["Привет"]


def test_errors_are_one_line(emulator: tuple[FakeOK, str], capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    fake, url = emulator
    monkeypatch.delenv("OKRU_BOT_TOKEN", raising=False)
    assert run(["bot", "info", "--api-url", url]) == 2
    assert "OKRU_BOT_TOKEN" in capsys.readouterr().err
    assert run(["bot", "send", "chat:Cnone", "x", "--api-url", url, "--access-token", fake.bots.access_token]) == 1
    err = capsys.readouterr().err
    assert "705" in err and fake.bots.access_token not in err
    assert run(["bot", "info", "--api-url", url, "--access-token", "tkn1wrong:TOKEN"]) == 3
    assert "tkn1wrong:TOKEN" not in capsys.readouterr().err


def test_serve_echo(emulator: tuple[FakeOK, str]) -> None:
    fake, url = emulator
    env = {**os.environ, "OKRU_BOT_TOKEN": fake.bots.access_token, "PYTHONUTF8": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "okru", "bot", "serve", "--echo", "--allow", "127.0.0.0/8", "--api-url", url,
         "--max-handlers", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        hook = lines.get(timeout=WAIT)
        assert hook is not None and hook.startswith("http://127.0.0.1:"), hook
        fake.bots.subscriptions[hook.strip() + "hook"] = 0
        fake.bots.source_address = "127.0.0.1"
        fake.bots.user_writes(fake.bots.chat_id, "user:571000000002", "эхо")
        assert [status for _, status in deliver_due(fake)] == [200]
        event = json.loads(lines.get(timeout=WAIT) or "null")
        assert event["type"] == "MESSAGE_CREATED" and event["event"]["message"]["text"] == "эхо"
        proc.send_signal(signal.SIGINT)  # graceful: the lifespan shutdown waits for the echo
        assert proc.wait(WAIT) == 0
        assert proc.stderr is not None and "up to 3 handlers at once" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
    assert [m["message"]["text"] for m in fake.bots.sent(fake.bots.chat_id)] == ["эхо"]


@pytest.mark.parametrize(("flag", "value"), [("--max-handlers", "0"), ("--slot-wait", "7")])
def test_serve_rejects_a_bad_bound(flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["bot", "serve", "--any-source", "--access-token", "tkn1demoBOT:CQABPOJKAKEKEKEKE", flag, value])
    err = capsys.readouterr().err
    assert code == 2 and flag.lstrip("-").replace("-", "_") in err, err
    assert "CQABPOJKAKEKEKEKE" not in err
