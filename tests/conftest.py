"""Suite-wide settings and fixtures: Hypothesis profiles, a guard against a green run with no
tests, and the one adapter matrix (tests/adapters.py) with the emulator it is wired to.

The core's tests load this file where httpx, trio and anyio are not installed (``nox -s core``):
nothing here imports them at module level.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from okru_proto.testing import FakeOK
from tests.adapters import ADAPTERS, Adapter, Env

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
# Nightly-style fuzzing (`nox -s fuzz`): at least 100,000 generated inputs per parser.
settings.register_profile(
    "fuzz", max_examples=100_000, deadline=None,
    suppress_health_check=list(HealthCheck), print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # pytest already exits 5 on "no tests collected"; make any empty selection a hard failure too,
    # so a broken collection or a typo in a path can never look green.
    if session.testscollected == 0 and exitstatus == 0:
        session.exitstatus = 1


# -- the adapter matrix ----------------------------------------------------------------------------

@pytest.fixture(params=sorted(ADAPTERS))
def adapter_name(request: pytest.FixtureRequest) -> str:
    """Every adapter by default; ``@pytest.mark.parametrize("adapter_name", [...])`` picks some."""
    return str(request.param)


@pytest.fixture
def adapter(adapter_name: str) -> Iterator[Adapter]:
    """A fresh :class:`~tests.adapters.Adapter`; what it opened for the test closes afterwards."""
    made = ADAPTERS[adapter_name].fresh()
    try:
        yield made
    finally:
        made.close_resources()


@pytest.fixture
def fake() -> FakeOK:
    return FakeOK()


@pytest.fixture(scope="module")
def loopback_fake() -> Iterator[tuple[FakeOK, str]]:
    """One emulator behind one loopback server per module (starting a server costs a thread)."""
    from okru_trio.testing import run_fake_server

    fake = FakeOK()
    with run_fake_server(fake) as url:
        yield fake, url


@pytest.fixture
def env(adapter: Adapter, fake: FakeOK) -> Env:
    """In-process wiring (fast): most contract tests."""
    return Env(adapter, fake, None)


@pytest.fixture(params=["inproc", "loopback"])
def wired_env(request: pytest.FixtureRequest, adapter: Adapter, fake: FakeOK) -> Env:
    """Both wirings: the end-to-end grant and call tests."""
    if request.param == "inproc":
        return Env(adapter, fake, None)
    shared_fake, url = request.getfixturevalue("loopback_fake")
    return Env(adapter, shared_fake, url)

