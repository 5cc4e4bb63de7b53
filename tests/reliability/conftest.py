"""Fixtures shared by the reliability suites: each test runs once per async adapter, on the
event loop that adapter needs."""

from __future__ import annotations

import pytest
from _rel_support import ASYNC_ADAPTERS, AsyncAdapter


@pytest.fixture(params=sorted(ASYNC_ADAPTERS))
def adapter(request: pytest.FixtureRequest) -> AsyncAdapter:
    return ASYNC_ADAPTERS[request.param]


@pytest.fixture
def anyio_backend(adapter: AsyncAdapter) -> str:
    return adapter.backend
