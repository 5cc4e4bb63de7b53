"""okru_proto.testing is pure: standard library only, and it never reads the wall clock."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from okru_proto.testing import FakeClock, FakeOK
from tests.emulator.helpers import call


def test_imports_no_third_party_or_event_loop() -> None:
    code = (
        "import sys, okru_proto.testing\n"
        "bad = {'httpx', 'trio', 'h11', 'anyio', 'asyncio', 'socket'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_never_reads_the_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> float:
        raise AssertionError("the emulator read the wall clock")

    monkeypatch.setattr(time, "time", boom)
    monkeypatch.setattr(time, "monotonic", boom)
    fake = FakeOK()
    tok = fake.issue_token(long=True)
    fake.clock.advance(86400)
    assert call(fake, "users.getLoggedInUser", token=tok).status == 200


def test_injected_clock() -> None:
    clock = FakeClock(start=2_000_000_000)
    fake = FakeOK(clock=clock)
    tok = fake.issue_token()
    assert fake.tokens[tok["access_token"]].expires_at == 2_000_001_800
    clock.advance(1800)
    assert b"PARAM_SESSION_EXPIRED" in call(fake, "users.getLoggedInUser", token=tok).body
    with pytest.raises(ValueError):
        clock.advance(-1)
