"""What the video contract tests share: an emulator on loopback per test (its upload host may be
hostile), a session with the VIDEO_CONTENT permission on the adapter under test, and the upload."""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from okru_proto import RetryPolicy
from okru_proto.testing import FakeOK
from okru_trio.testing import run_fake_server
from tests.adapters import Adapter, Env

KB = 1024
#: The default policy's 5 attempts, without the waits (a Sleep(0) still goes through the driver).
FIVE_NO_WAIT = RetryPolicy(attempts=5, base=0.0, cap=0.0)


def data_of(n: int, seed: bytes = b"v") -> bytes:
    return hashlib.shake_256(seed + str(n).encode()).digest(n)


def write_old(path: Path, data: bytes) -> None:
    """Write ``data`` with a modification time an hour ago, so any later write changes it."""
    path.write_bytes(data)
    old = time.time_ns() - 3600 * 10**9
    os.utime(path, ns=(old, old))


def next_tick(path: Path) -> None:
    """Wait (no sleep: spin on the clock the kernel stamps files with) until a change to ``path``
    gets a status-change time different from the one it has: file times have the coarse clock's
    granularity (a few ms), and a test must not depend on luck."""
    stamped = os.stat(path).st_ctime_ns
    coarse = getattr(time, "CLOCK_REALTIME_COARSE", time.CLOCK_REALTIME)
    while time.clock_gettime_ns(coarse) <= stamped:
        pass


def uploads(fake: FakeOK, method: str = "POST") -> int:
    return sum(1 for r in fake.requests if r.method == "/uploadVideo" and r.request.method == method)


def updates(fake: FakeOK) -> int:
    return sum(1 for r in fake.requests if r.method == "video.update")


@pytest.fixture
def served() -> Iterator[Env]:
    """A fresh emulator behind its own loopback server (started outside the test's event loop)."""
    fake = FakeOK()
    with run_fake_server(fake) as url:
        yield Env(None, fake, url)  # type: ignore[arg-type]  # the adapter comes with video_session


@asynccontextmanager
async def video_session(adapter: Adapter, served: Env) -> AsyncIterator[Any]:
    """An entered ServerSession of ``adapter`` on the served emulator (every adapter through a
    real socket: the hostile hosts are the emulator's upload host, streamed block by block)."""
    fake = served.fake
    token = fake.issue_token(scope=["VALUABLE_ACCESS", "VIDEO_CONTENT"])["access_token"]
    env = Env(adapter, fake, served.base_url)
    session = env.session("ServerSession", fake.app_id, fake.app_key, fake.app_secret_key, token)
    async with adapter.entered(session):
        yield session


async def upload(adapter: Adapter, session: Any, source: Any, **options: Any) -> Any:
    """``session.upload_video(source, **options)``, awaited or in a worker thread."""
    options.setdefault("retry", FIVE_NO_WAIT)
    return await adapter.run(functools.partial(session.upload_video, source, **options))


def on_first_confirmed(change: Callable[[], None]) -> Callable[[int, int], None]:
    """A ``progress`` callback that runs ``change`` once, when the first chunk is confirmed."""
    done: list[bool] = []

    def progress(sent: int, total: int) -> None:
        if sent and not done:
            done.append(True)
            change()
    return progress
