"""A bot's conversation state outlives its process: each message goes to a new process (on
asyncio or trio by turns) sharing one SQLite file or one real Redis-protocol server, and the
conversation carries on where the previous process left it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("_bot_worker.py")


def _say(spec: str, backend: str, text: str) -> list[str]:
    out = subprocess.run([sys.executable, str(WORKER), spec, backend, text], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    said: list[str] = json.loads(out.strip().splitlines()[-1])["said"]
    return said


def _conversation(spec: str) -> None:
    steps = [("asyncio", "привет", "Напишите /start"), ("trio", "/start", "Как вас зовут?"),
             ("asyncio", "Вася", "Откуда вы?"), ("trio", "Тулы", "Вася из Тулы"),
             ("asyncio", "ещё", "Напишите /start")]
    for backend, text, answer in steps:
        assert _say(spec, backend, text) == [answer], (backend, text)


def test_state_survives_restarts_on_sqlite(tmp_path: Path) -> None:
    _conversation(f"sqlite:{tmp_path / 'bot.db'}")


@pytest.mark.network
def test_state_survives_restarts_on_redis(flushed_redis: str) -> None:
    _conversation(f"redis:{flushed_redis}")
