"""The reliability suites run on the one adapter matrix (tests/adapters.py): each async test on its
adapter's event loop. The load suites pick the async adapters (``load.ASYNC_ADAPTERS``)."""

from __future__ import annotations

import pytest

from tests.adapters import Adapter


@pytest.fixture
def anyio_backend(adapter: Adapter) -> str:
    return adapter.backend
