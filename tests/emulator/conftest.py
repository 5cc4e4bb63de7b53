"""Fixtures of the emulator's tests (``fake``, a fresh FakeOK, is tests/conftest.py's)."""

from __future__ import annotations

import pytest

from okru_proto.testing import FakeOK


@pytest.fixture
def token(fake: FakeOK) -> dict[str, str]:
    return fake.issue_token(scope=("VALUABLE_ACCESS", "PHOTO_CONTENT", "GROUP_CONTENT"))
