"""Shared bits of the reliability suites: the async adapters under test and fd accounting.

Each async adapter is a (name, anyio backend, session module, transport options) entry; the
tests run the same body for every entry against a real loopback server
(``okru_trio.testing.run_fake_server``, a background thread of this process).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AsyncAdapter:
    name: str
    backend: str
    module_name: str
    #: timeout (s) -> the adapter's transport options for a session
    transport: Callable[[float], dict[str, Any]]

    @property
    def module(self) -> Any:
        import importlib

        return importlib.import_module(self.module_name)


# httpx: ``t`` bounds each connect and each read, as httpx's per-request timeout did before the
# sessions' ``timeout=`` became the whole-call deadline (issue 11). At concurrency 100 the
# CPU-bound httpx client takes ~0.8 s of wall time per call on a loaded 2-core machine, so a
# whole-call deadline of ``t`` would time out most calls rather than just the slow replies.
ASYNC_ADAPTERS = {
    "httpx-asyncio": AsyncAdapter("httpx-asyncio", "asyncio", "okru_httpx",
                                  lambda t: {"connect_timeout": t, "read_timeout": t}),
    "httpx-trio": AsyncAdapter("httpx-trio", "trio", "okru_httpx",
                               lambda t: {"connect_timeout": t, "read_timeout": t}),
    # The trio transport's pool is 10 connections per origin by default; the load runs at
    # concurrency 100, so give it a pool that size (the total timeout covers the pool wait too).
    "trio": AsyncAdapter("trio", "trio", "okru_trio",
                         lambda t: {"timeout": t, "read_timeout": t, "max_connections": 100}),
}


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
