"""Fixtures of the adapter contract suite (see ``_harness.py`` for how an adapter joins)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest

from okru_proto.testing import FakeOK

from ._harness import ADAPTERS, Adapter, Env


@pytest.fixture(params=sorted(ADAPTERS))
def adapter_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def anyio_backend(adapter_name: str) -> str:
    return ADAPTERS[adapter_name][0]


@pytest.fixture
def adapter(adapter_name: str) -> Iterator[Adapter]:
    made = ADAPTERS[adapter_name][1]()
    yield made
    made.close_opened()


@pytest.fixture
def fake() -> FakeOK:
    return FakeOK()


@pytest.fixture(scope="module")
def loopback_fake() -> Iterator[tuple[FakeOK, str]]:
    """One emulator behind one loopback server per module (starting a server costs a thread)."""
    testing = importlib.import_module("okru_trio.testing")
    fake = FakeOK()
    with testing.run_fake_server(fake) as url:
        yield fake, url


@pytest.fixture
def env(adapter: Adapter, fake: FakeOK) -> Env:
    """In-process wiring (fast): most tests."""
    return Env(adapter, fake, None)


@pytest.fixture(params=["inproc", "loopback"])
def wired_env(request: pytest.FixtureRequest, adapter: Adapter, fake: FakeOK) -> Env:
    """Both wirings: the end-to-end grant and call tests."""
    if request.param == "inproc":
        return Env(adapter, fake, None)
    shared_fake, url = request.getfixturevalue("loopback_fake")
    return Env(adapter, shared_fake, url)
