"""Suite-wide settings: Hypothesis profiles and a guard against a green run with no tests."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

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
