"""What the load suites share: the adapters they run on, each one's options for a load, and file
descriptor accounting.

The tests run the same body on each async adapter of the one matrix (tests/adapters.py) against
a real loopback server (``okru_trio.testing.run_fake_server``, a background thread of this process).
"""

from __future__ import annotations

import os
import time
from typing import Any

from tests.adapters import ASYNC_ADAPTERS, Adapter

__all__ = ["ASYNC_ADAPTERS", "count_sockets", "leaked", "load_options", "open_fds", "wait_for_fds"]


def load_options(adapter: Adapter, timeout: float) -> dict[str, Any]:
    """The session options bounding each request of a load by ``timeout``."""
    if adapter.is_httpx:
        # httpx: ``timeout`` bounds each connect and each read, as httpx's per-request timeout did
        # before the sessions' ``timeout=`` became the whole-call deadline (issue 11). At
        # concurrency 100 the CPU-bound httpx client takes ~0.8 s of wall time per call on a loaded
        # 2-core machine, so a whole-call deadline would time out most calls rather than just the
        # slow replies.
        return {"connect_timeout": timeout, "read_timeout": timeout}
    # The trio transport's pool is 10 connections per origin by default; the load runs at
    # concurrency 100, so give it a pool that size (the total timeout covers the pool wait too).
    return {"timeout": timeout, "read_timeout": timeout, "max_connections": 100}


def open_fds() -> dict[str, str]:
    """fd -> what it points at (``socket:[inode]``, a path, ``anon_inode:[eventpoll]``...)."""
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed between listdir and readlink (e.g. the listdir fd itself)
            pass
    return out


def count_sockets(fds: dict[str, str]) -> int:
    return sum(1 for target in fds.values() if target.startswith("socket:"))


def wait_for_fds(baseline: dict[str, str], timeout: float = 5.0) -> dict[str, str]:
    """Poll until no more fds are open than at ``baseline`` (the server thread closes its side
    of each connection a moment after the client does; a slow fault's sleeping handler only
    notices the closed client when its delay ends). Returns the last snapshot."""
    deadline = time.monotonic() + timeout
    while True:
        now = open_fds()
        if len(now) <= len(baseline) or time.monotonic() > deadline:
            return now
        time.sleep(0.02)


def leaked(baseline: dict[str, str], after: dict[str, str]) -> list[str]:
    """Descriptions of fds open now that were not open (to the same target) at baseline."""
    return sorted(f"{fd}->{target}" for fd, target in after.items() if baseline.get(fd) != target)
