"""The one adapter matrix: every adapter as an async test drives it, sessions and bots alike.

One name per flavour, everywhere (fixture ids, ``ADAPTERS`` keys, ``adapter.name``):

    httpx-sync     okru_httpx.sync, blocking: its calls run in anyio worker threads (asyncio loop)
    httpx-asyncio  okru_httpx on asyncio
    httpx-trio     okru_httpx on trio
    okru_trio      okru_trio (h11 over trio); it has no in-process transport, so its "in-process"
                   wiring is a loopback server of its own per emulator

A test takes the ``adapter`` fixture (tests/conftest.py): one run per name, a fresh
:class:`Adapter` each time, whose clients and servers close when the test ends; parametrize
``adapter_name`` to pick some (``@pytest.mark.parametrize("adapter_name", ["okru_trio"])``). In
tests/contract, tests/security and tests/reliability an async test runs on its adapter's event loop
(their conftests set ``anyio_backend`` from the adapter).

One way to drive anything an adapter makes (a session, a bot, a grant), blocking or async:

    await adapter.run(session.call, "users.getCurrentUser")   # a call: awaited, or in a thread
    async with adapter.entered(session): ...                   # enter/close (also adapter.enter/.close)
    await adapter.collect(session.items("group.getMembers"))   # drain a sync or async iterator

Wiring to the emulator, in process or over loopback:

    adapter.wire(fake)             session options reaching ``fake`` in process (httpx:
                                   FakeOKTransport; okru_trio: a loopback server of its own)
    adapter.wire(fake, base_url)   loopback: endpoints at ``base_url``, the session's own client
    adapter.session("ServerSession", *args, **options)   a session (pass ``**adapter.wire(fake)``)
    adapter.bot(fake, **options)   a BotSession for the emulator's bot, wired in process

tests/contract's ``env``/``wired_env`` fixtures (an :class:`Env`) bundle an adapter with its
emulator and wiring. An adapter joins the whole matrix with one line in ``ADAPTERS``.

Nothing here imports an adapter or an event-loop library at module level: tests/conftest.py
loads this module, and the core's tests run where httpx, trio and anyio are not installed.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from okru_proto import Endpoints
from okru_proto.adapter import API
from okru_proto.testing import FakeOK

__all__ = ["ADAPTERS", "ASYNC_ADAPTERS", "HTTPX_ADAPTERS", "SESSION_KINDS", "Adapter", "Env"]

SESSION_KINDS = ("CodeSession", "ImplicitSession", "PasswordSession", "RefreshSession",
                 "ClientSession", "ServerSession", "AppSession", "PublicSession")


def _to_thread() -> Any:
    import anyio.to_thread  # here, not at the top: see the module docstring

    return anyio.to_thread


@dataclass
class Adapter:
    """One adapter under test: its module, the anyio backend its tests run on, and how to drive
    and wire it. ``resources`` holds what the adapter opened for one test (clients, servers)."""

    name: str
    backend: str
    module_name: str
    blocking: bool = False
    resources: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False, compare=False)
    #: okru_trio's loopback server per emulator (id(fake) -> base URL), started on first use
    _servers: dict[int, str] = field(default_factory=dict, repr=False, compare=False)

    def fresh(self) -> Adapter:
        """A copy with nothing opened yet (what the ``adapter`` fixture hands each test)."""
        return replace(self, resources=contextlib.ExitStack(), _servers={})

    def close_resources(self) -> None:
        """Close the clients and servers this adapter opened for the test."""
        self.resources.close()
        self._servers.clear()

    @property
    def module(self) -> Any:
        return importlib.import_module(self.module_name)

    @property
    def is_httpx(self) -> bool:
        """okru_httpx (sync or async): takes a client of the user's own and has an in-process
        transport; okru_trio takes ``transport=``/``ssl_context=`` and always uses a socket."""
        return self.module_name.startswith("okru_httpx")

    # -- driving: the one way to run, enter, close and collect ---------------------------------

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``: in a worker thread for the blocking adapter, awaited otherwise."""
        if self.blocking:
            return await _to_thread().run_sync(functools.partial(fn, *args, **kwargs))
        return await fn(*args, **kwargs)

    async def enter(self, obj: Any) -> Any:
        if self.blocking:
            return await _to_thread().run_sync(obj.__enter__)
        return await obj.__aenter__()

    async def close(self, obj: Any) -> None:
        if self.blocking:
            await _to_thread().run_sync(obj.__exit__, None, None, None)
        else:
            await obj.__aexit__(None, None, None)

    @contextlib.asynccontextmanager
    async def entered(self, obj: Any) -> AsyncIterator[Any]:
        entered = await self.enter(obj)
        try:
            yield entered
        finally:
            await self.close(obj)

    async def collect(self, iterator: Any) -> list[Any]:
        """Drain ``session.pages(...)``/``items(...)``/``bot.chats(...)``: a sync iterator in a
        worker thread, an async one here."""
        if self.blocking:
            items: list[Any] = await _to_thread().run_sync(list, iterator)
            return items
        return [item async for item in iterator]

    async def call(self, session: Any, method: str, *args: Any, **params: Any) -> Any:
        """``API(session)(method, ...)``, aiookru's call shape."""
        return await self.run(API(session), method, *args, **params)

    async def api(self, session: Any, dotted: str, **params: Any) -> Any:
        """``api.group.method(**params)`` via attribute access."""
        target: Any = API(session)
        for part in dotted.split("."):
            target = getattr(target, part)
        return await self.run(target, **params)

    def set_fake_sleep(self, session: Any, slept: list[float]) -> None:
        """Replace the session's backoff sleep with one that records and returns at once."""
        if self.blocking:
            session._sleep = slept.append
        else:
            async def sleep(seconds: float) -> None:
                slept.append(seconds)
            session._sleep = sleep

    # -- wiring: sessions and bots against the emulator ------------------------------------------

    def session(self, kind: str, *args: Any, **options: Any) -> Any:
        """A session of class ``kind`` (e.g. ``"ServerSession"``), not yet entered."""
        return getattr(self.module, kind)(*args, **options)

    def wire(self, fake: FakeOK, base_url: str | None = None) -> dict[str, Any]:
        """Session options that reach ``fake``: in process (``base_url`` None) or at ``base_url``
        over loopback with the session's own default client."""
        if base_url is None and self.is_httpx:
            import httpx

            from okru_httpx.testing import FakeOKTransport

            client = (httpx.Client if self.blocking else httpx.AsyncClient)(transport=FakeOKTransport(fake))
            self._close_at_end(client)
            return {"client": client}
        if base_url is None:
            # okru_trio has no in-process transport: this emulator gets a loopback server of its
            # own (h11 over trio in a thread), started once per emulator and test.
            if id(fake) not in self._servers:
                from okru_trio.testing import run_fake_server

                self._servers[id(fake)] = self.resources.enter_context(run_fake_server(fake))
            base_url = self._servers[id(fake)]
        return {"endpoints": Endpoints(api=base_url, connect=base_url)}

    def bot(self, fake: FakeOK, **options: Any) -> Any:
        """A ``BotSession`` with the emulator's bot token, wired to ``fake`` in process."""
        return self.session("BotSession", fake.bots.access_token, **{**self.wire(fake), **options})

    def user_client(self, **options: Any) -> Any:
        """An httpx client of the user's own (``httpx.Client`` for the blocking adapter)."""
        import httpx

        return (httpx.Client if self.blocking else httpx.AsyncClient)(**options)

    async def close_client(self, client: Any) -> None:
        if self.blocking:
            client.close()
        else:
            await client.aclose()

    def recording_client(self, fake: FakeOK, headers: dict[str, str],
                         timeout: float) -> tuple[Any, list[tuple[dict[str, str], Any]]]:
        """A user's own httpx client reaching ``fake`` in process, and the list it records what it
        sent in, as (headers dict, read timeout) pairs. httpx adapters only."""
        import httpx

        from okru_httpx.testing import FakeOKTransport

        class Recording(FakeOKTransport):
            def __init__(self, fake: FakeOK, seen: list[tuple[dict[str, str], Any]]) -> None:
                super().__init__(fake)
                self.seen = seen

            def _respond(self, request: httpx.Request, body: bytes) -> httpx.Response:
                self.seen.append((dict(request.headers), request.extensions.get("timeout", {}).get("read")))
                return super()._respond(request, body)

        seen: list[tuple[dict[str, str], Any]] = []
        client = self.user_client(transport=Recording(fake, seen), headers=headers, timeout=timeout)
        self._close_at_end(client)
        return client, seen

    def is_closed(self, client: Any) -> bool:
        return bool(client.is_closed)

    def tls_options(self, ssl_context: Any) -> dict[str, Any]:
        """Session options that trust ``ssl_context``'s CAs."""
        if not self.is_httpx:
            return {"ssl_context": ssl_context}
        return {"client": self.user_client(verify=ssl_context)}

    def _close_at_end(self, client: Any) -> None:
        # In-process clients hold no sockets; only a blocking one has a close() to call from here.
        if self.blocking:
            self.resources.callback(client.close)


ADAPTERS = {
    "httpx-sync": Adapter("httpx-sync", "asyncio", "okru_httpx.sync", blocking=True),
    "httpx-asyncio": Adapter("httpx-asyncio", "asyncio", "okru_httpx"),
    "httpx-trio": Adapter("httpx-trio", "trio", "okru_httpx"),
    "okru_trio": Adapter("okru_trio", "trio", "okru_trio"),
}
#: The async adapters (``async with session``, anyio tasks).
ASYNC_ADAPTERS = sorted(name for name, adapter in ADAPTERS.items() if not adapter.blocking)
#: The adapters that take a client of the user's own (``client=``); okru_trio takes
#: ``transport=`` instead (tests/trio/test_trio_session.py).
HTTPX_ADAPTERS = sorted(name for name, adapter in ADAPTERS.items() if adapter.is_httpx)


@dataclass
class Env:
    """A contract test's world: the adapter, the emulator it talks to, and how it is wired."""

    adapter: Adapter
    fake: FakeOK
    base_url: str | None

    @property
    def wire(self) -> str:
        return "inproc" if self.base_url is None else "loopback"

    @property
    def over_socket(self) -> bool:
        return self.base_url is not None or not self.adapter.is_httpx

    def options(self, **extra: Any) -> dict[str, Any]:
        return {**self.adapter.wire(self.fake, self.base_url), **extra}

    def session(self, kind: str, *args: Any, **options: Any) -> Any:
        return self.adapter.session(kind, *args, **self.options(**options))
