"""Every adapter as an async test drives it: blocking ones from a worker thread, async ones
awaited. Shared by the security, reliability and hostile-server suites."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread

__all__ = ["ADAPTERS", "Adapter"]


@dataclass(frozen=True)
class Adapter:
    name: str
    backend: str
    module_name: str
    blocking: bool = False

    @property
    def module(self) -> Any:
        return importlib.import_module(self.module_name)

    @property
    def is_trio_transport(self) -> bool:
        return self.module_name == "okru_trio"

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``: in a worker thread for blocking adapters, awaited otherwise."""
        if self.blocking:
            return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
        return await fn(*args, **kwargs)

    async def enter(self, session: Any) -> Any:
        if self.blocking:
            return await anyio.to_thread.run_sync(session.__enter__)
        return await session.__aenter__()

    async def close(self, session: Any) -> None:
        if self.blocking:
            await anyio.to_thread.run_sync(session.__exit__, None, None, None)
        else:
            await session.__aexit__(None, None, None)

    async def collect(self, iterator: Any) -> list[Any]:
        """Drain ``session.pages(...)``/``items(...)`` (a sync or async iterator)."""
        if self.blocking:
            return await anyio.to_thread.run_sync(list, iterator)
        return [item async for item in iterator]

    def tls_options(self, ssl_context: Any) -> dict[str, Any]:
        """Session options that trust ``ssl_context``'s CAs."""
        if self.is_trio_transport:
            return {"ssl_context": ssl_context}
        import httpx

        client_class = httpx.Client if self.blocking else httpx.AsyncClient
        return {"client": client_class(verify=ssl_context)}


ADAPTERS = {
    "httpx-sync": Adapter("httpx-sync", "asyncio", "okru_httpx.sync", blocking=True),
    "httpx-asyncio": Adapter("httpx-asyncio", "asyncio", "okru_httpx"),
    "httpx-trio": Adapter("httpx-trio", "trio", "okru_httpx"),
    "trio": Adapter("trio", "trio", "okru_trio"),
}
