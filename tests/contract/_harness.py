"""The contract suite's harness: one suite, every adapter.

Each test is written once, async, against :class:`Adapter` (make a session, enter it, call it,
close it). An adapter joins by adding one entry to ``ADAPTERS`` below: a name, the anyio
backend its tests run on, and a factory for :class:`Adapter`. A blocking adapter runs its calls
in worker threads (``anyio.to_thread``), so the same tests drive it, concurrency included.

``wire`` says how the adapter reaches the emulator: ``inproc`` (the adapter's in-process
transport, e.g. ``okru_httpx.testing.FakeOKTransport``) or ``loopback`` (a real HTTP/1.1 server
on 127.0.0.1, ``okru_trio.testing.run_fake_server``, with the adapter's own default client).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread

from okru_proto import Endpoints
from okru_proto.adapter import API
from okru_proto.testing import FakeOK

SESSION_KINDS = ("CodeSession", "ImplicitSession", "PasswordSession", "RefreshSession",
                 "ClientSession", "ServerSession", "AppSession", "PublicSession")


@dataclass
class Adapter:
    """One adapter under test: its module of aiookru-shaped sessions and how to reach the fake."""

    name: str
    module: Any
    blocking: bool
    #: (fake, base_url or None) -> dict of session options (client=..., endpoints=...).
    wire_options: Callable[[FakeOK, str | None], dict[str, Any]]
    #: (fake, headers, timeout) -> (the user's own client, list that records what it sent as
    #: (headers dict, read timeout) pairs); None if the adapter takes no user client.
    user_client: Callable[[FakeOK, dict[str, str], float], tuple[Any, list[tuple[dict[str, str], Any]]]] | None = None
    opened: list[Any] = field(default_factory=list)
    #: True when even "inproc" wiring goes over a loopback socket (no in-process transport)
    sockets: bool = False
    #: loopback servers started for this test (adapters without an in-process transport)
    servers: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def close_opened(self) -> None:
        """Close the clients the suite made for in-process wiring (they hold no sockets)."""
        for client in self.opened:
            if self.blocking:
                client.close()
        self.opened.clear()
        self.servers.close()

    # -- sessions --------------------------------------------------------------------------
    def session(self, kind: str, *args: Any, **options: Any) -> Any:
        """A session of class ``kind`` (e.g. ``"ServerSession"``), not yet entered."""
        return getattr(self.module, kind)(*args, **options)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``: awaited (async adapters) or run in a worker thread (blocking ones)."""
        if self.blocking:
            return await anyio.to_thread.run_sync(functools.partial(fn, *args))
        return await fn(*args)

    async def enter(self, session: Any) -> Any:
        if self.blocking:
            return await anyio.to_thread.run_sync(session.__enter__)
        return await session.__aenter__()

    async def exit(self, session: Any) -> None:
        if self.blocking:
            await anyio.to_thread.run_sync(session.__exit__, None, None, None)
        else:
            await session.__aexit__(None, None, None)

    @contextlib.asynccontextmanager
    async def entered(self, session: Any) -> Any:
        entered = await self.enter(session)
        try:
            yield entered
        finally:
            await self.exit(session)

    def is_closed(self, client: Any) -> bool:
        return bool(client.is_closed)

    async def call(self, session: Any, method: str, *args: Any, **params: Any) -> Any:
        """``API(session)(method, ...)``, aiookru's call shape."""
        api = API(session)
        return await self.run(lambda: api(method, *args, **params)) if self.blocking else \
            await api(method, *args, **params)

    async def api(self, session: Any, dotted: str, **params: Any) -> Any:
        """``api.group.method(**params)`` via attribute access."""
        target: Any = API(session)
        for part in dotted.split("."):
            target = getattr(target, part)
        if self.blocking:
            return await anyio.to_thread.run_sync(lambda: target(**params))
        return await target(**params)

    def set_fake_sleep(self, session: Any, slept: list[float]) -> None:
        """Replace the session's backoff sleep with one that records and returns at once."""
        if self.blocking:
            session._sleep = slept.append
        else:
            async def sleep(seconds: float) -> None:
                slept.append(seconds)
            session._sleep = sleep


# -- the adapters ---------------------------------------------------------------------------

def _httpx_adapter(blocking: bool) -> Adapter:
    import httpx

    import okru_httpx
    import okru_httpx.sync
    from okru_httpx.testing import FakeOKTransport

    def wire(fake: FakeOK, base_url: str | None) -> dict[str, Any]:
        if base_url is not None:  # loopback: the session's own default client
            return {"endpoints": Endpoints(api=base_url, connect=base_url)}
        client_class = httpx.Client if blocking else httpx.AsyncClient
        client = client_class(transport=FakeOKTransport(fake))
        adapter.opened.append(client)
        return {"client": client}

    class Recording(FakeOKTransport):
        def __init__(self, fake: FakeOK, seen: list[tuple[dict[str, str], Any]]) -> None:
            super().__init__(fake)
            self.seen = seen

        def _respond(self, request: httpx.Request, body: bytes) -> httpx.Response:
            self.seen.append((dict(request.headers), request.extensions.get("timeout", {}).get("read")))
            return super()._respond(request, body)

    def user_client(fake: FakeOK, headers: dict[str, str], timeout: float) -> tuple[Any, list[Any]]:
        seen: list[tuple[dict[str, str], Any]] = []
        client_class = httpx.Client if blocking else httpx.AsyncClient
        client = client_class(transport=Recording(fake, seen), headers=headers, timeout=timeout)
        adapter.opened.append(client)
        return client, seen

    adapter = Adapter("httpx-sync" if blocking else "httpx-async",
                      okru_httpx.sync if blocking else okru_httpx, blocking, wire, user_client)
    return adapter


def _trio_adapter() -> Adapter:
    import okru_trio
    from okru_trio.testing import run_fake_server

    urls: dict[int, str] = {}

    def wire(fake: FakeOK, base_url: str | None) -> dict[str, Any]:
        if base_url is None:
            # okru_trio has no in-process transport: this test's own emulator gets its own
            # loopback server (h11 over trio in a thread), started once per emulator.
            if id(fake) not in urls:
                urls[id(fake)] = adapter.servers.enter_context(run_fake_server(fake))
            base_url = urls[id(fake)]
        return {"endpoints": Endpoints(api=base_url, connect=base_url)}

    adapter = Adapter("trio", okru_trio, False, wire, sockets=True)
    return adapter


#: name -> (anyio backend, factory). A new adapter joins the whole suite with one line here.
ADAPTERS: dict[str, tuple[str, Callable[[], Adapter]]] = {
    "httpx-sync": ("asyncio", lambda: _httpx_adapter(blocking=True)),
    "httpx-asyncio": ("asyncio", lambda: _httpx_adapter(blocking=False)),
    "httpx-trio": ("trio", lambda: _httpx_adapter(blocking=False)),
    "trio": ("trio", _trio_adapter),
}
#: Adapters that take the user's own HTTP client (``client=``); okru_trio takes ``transport=``
#: instead (tests/trio/test_trio_session.py).
USER_CLIENT_ADAPTERS = sorted(name for name in ADAPTERS if name.startswith("httpx"))


@dataclass
class Env:
    """What a test needs: the adapter, the emulator it talks to, and the wiring options."""

    adapter: Adapter
    fake: FakeOK
    base_url: str | None

    @property
    def wire(self) -> str:
        return "inproc" if self.base_url is None else "loopback"

    @property
    def over_socket(self) -> bool:
        return self.base_url is not None or self.adapter.sockets

    def options(self, **extra: Any) -> dict[str, Any]:
        return {**self.adapter.wire_options(self.fake, self.base_url), **extra}

    def session(self, kind: str, *args: Any, **options: Any) -> Any:
        return self.adapter.session(kind, *args, **self.options(**options))
