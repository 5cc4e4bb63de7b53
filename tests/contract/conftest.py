"""The contract suites run on the one adapter matrix (tests/adapters.py; its fixtures ``adapter``,
``env``, ``wired_env`` and ``fake`` are in tests/conftest.py): each async test on its adapter's
event loop."""

from __future__ import annotations

import pytest

from tests.adapters import Adapter


@pytest.fixture
def anyio_backend(adapter: Adapter) -> str:
    return adapter.backend
