"""``okru_pytest``: pytest fixtures for testing code that talks to OK.ru, over the emulator.

Installed with ``pip install 'okru[pytest]'``; pytest loads it by itself (the ``pytest11`` entry
point ``okru``), so the fixtures need no import and no ``conftest.py``:

* ``fake_ok``: a fresh :class:`okru_proto.testing.FakeOK` (its demo app and user, its own clock);
* ``ok_app``: the demo app's and user's values plus in-process ``endpoints`` (:class:`OKTestApp`);
* ``ok_token``: a fresh token dict (``access_token``, ``session_secret_key``, ``refresh_token``);
* ``ok_transport``, ``ok_client``, ``ok_async_client``: httpx wired to ``fake_ok`` in-process;
* ``ok_session``: an entered ``okru_httpx.sync.ServerSession`` with a fresh token;
* ``ok_session_factory``: ``make(cls, *args, **kwargs)`` builds any ``okru_httpx`` or
  ``okru_httpx.sync`` session class over ``fake_ok`` (adds ``endpoints=`` and ``client=``);
* ``fake_ok_server``: ``fake_ok`` served on 127.0.0.1 over HTTP/1.1 in a background thread
  (:class:`OKTestServer`: ``.url``, ``.endpoints``, ``.fake``), for ``okru_trio`` and for code
  that builds its own HTTP client;
* ``ok_payments``: OK's side of a game (:class:`OKPayments`): the demo user's launch URL, and
  purchases whose ``callbacks.payment`` calls reach the game's URL or ASGI app (``_payments``).

``async def`` tests run under anyio's marker (``@pytest.mark.anyio``; anyio and its pytest plugin come
with ``okru[pytest]``) on asyncio and trio. One that uses these fixtures and that no async plugin
ran fails with how to mark it, instead of pytest's generic "not natively supported".

This module imports only pytest and the pure core at load time, so it is harmless where httpx or
trio are not installed: the fixtures that need them import them when they are used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from okru_proto import Endpoints, UsageError
from okru_proto import __version__ as __version__  # one version for every okru package
from okru_proto.testing import FakeOK

if TYPE_CHECKING:
    import httpx

    from okru_httpx.testing import FakeOKTransport

from ._payments import OKPayments, ok_payments

__all__ = ["IN_PROCESS_ENDPOINTS", "OKPayments", "OKTestApp", "OKTestServer", "ok_payments"]

#: Endpoints for in-process use. The ``.invalid`` names never resolve (RFC 2606): a client that
#: is not wired to the emulator fails at once instead of reaching the real OK.ru.
IN_PROCESS_ENDPOINTS = Endpoints(api="https://api.ok.invalid", connect="https://connect.ok.invalid")

#: The permissions of ``ok_token``: enough for every method the emulator serves.
TOKEN_SCOPE = ("VALUABLE_ACCESS", "PHOTO_CONTENT", "GROUP_CONTENT")


@dataclass(frozen=True)
class OKTestApp:
    """The emulator's demo app and user (public test values, not secrets) and where to send calls."""

    app_id: str
    app_key: str
    app_secret_key: str
    user_login: str
    user_password: str
    user_id: str
    endpoints: Endpoints


@dataclass(frozen=True)
class OKTestServer:
    """``fake`` served on a loopback ``url``; ``endpoints`` points a session at it."""

    fake: FakeOK
    url: str
    endpoints: Endpoints


@pytest.fixture
def fake_ok() -> FakeOK:
    """A fresh OK.ru emulator (demo app and user, its own clock starting 2024-01-01)."""
    return FakeOK()


@pytest.fixture
def ok_app(fake_ok: FakeOK) -> OKTestApp:
    """The demo app id/key/secret, the demo user's login, password and uid, in-process endpoints."""
    return OKTestApp(app_id=fake_ok.app_id, app_key=fake_ok.app_key, app_secret_key=fake_ok.app_secret_key,
                     user_login=fake_ok.user_login, user_password=fake_ok.user_password,
                     user_id=fake_ok.user_id, endpoints=IN_PROCESS_ENDPOINTS)


@pytest.fixture
def ok_token(fake_ok: FakeOK) -> dict[str, str]:
    """A token the demo user granted the demo app (as after a login): ``access_token``,
    ``session_secret_key``, ``refresh_token``, ``expires_in``."""
    return fake_ok.issue_token(scope=TOKEN_SCOPE)


@pytest.fixture
def ok_transport(fake_ok: FakeOK) -> FakeOKTransport:
    """An httpx transport (sync and async) answered by ``fake_ok`` in-process."""
    from okru_httpx.testing import FakeOKTransport

    return FakeOKTransport(fake_ok)


@pytest.fixture
def ok_client(ok_transport: FakeOKTransport) -> Iterator[httpx.Client]:
    """An ``httpx.Client`` whose every request ``fake_ok`` answers (pass it as ``client=``)."""
    import httpx

    with httpx.Client(transport=ok_transport) as client:
        yield client


@pytest.fixture
def ok_async_client(ok_transport: FakeOKTransport) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose every request ``fake_ok`` answers (pass it as ``client=``).

    Not closed by the fixture: closing is a coroutine and a sync fixture has no loop to run it
    in; the in-process transport holds no connection, so there is nothing to release."""
    import httpx

    return httpx.AsyncClient(transport=ok_transport)


@pytest.fixture
def ok_session_factory(ok_client: httpx.Client, ok_async_client: httpx.AsyncClient) -> Callable[..., Any]:
    """``make(cls, *args, **kwargs)``: ``cls(*args, endpoints=..., client=..., **kwargs)`` for a
    session class of ``okru_httpx`` (async) or ``okru_httpx.sync``, answered by ``fake_ok``."""

    def make(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
        module = getattr(cls, "__module__", "")
        if module.startswith("okru_httpx.sync"):
            client: Any = ok_client
        elif module.startswith("okru_httpx"):
            client = ok_async_client
        else:
            raise UsageError(f"ok_session_factory builds okru_httpx sessions, not {cls.__qualname__}: "
                             "for okru_trio (or any other client) use the fake_ok_server fixture's endpoints")
        kwargs.setdefault("endpoints", IN_PROCESS_ENDPOINTS)
        kwargs.setdefault("client", client)
        return cls(*args, **kwargs)

    return make


@pytest.fixture
def ok_session(ok_session_factory: Callable[..., Any], ok_app: OKTestApp, ok_token: dict[str, str]) -> Iterator[Any]:
    """An entered ``okru_httpx.sync.ServerSession`` for the demo user (``ok_token``), closed after."""
    from okru_httpx import sync

    session = ok_session_factory(sync.ServerSession, ok_app.app_id, ok_app.app_key, ok_app.app_secret_key,
                                 ok_token["access_token"], refresh_token=ok_token["refresh_token"])
    with session:
        yield session


@pytest.fixture
def fake_ok_server(fake_ok: FakeOK) -> Iterator[OKTestServer]:
    """``fake_ok`` on ``http://127.0.0.1:<free port>`` (HTTP/1.1, trio in a background thread)."""
    from okru_trio.testing import run_fake_server

    with run_fake_server(fake_ok) as url:
        yield OKTestServer(fake=fake_ok, url=url, endpoints=Endpoints(api=url, connect=url))


#: The fixtures above: an ``async def`` test using one of them is a test of okru code.
OKRU_FIXTURES = frozenset({"fake_ok", "ok_app", "ok_token", "ok_transport", "ok_client", "ok_async_client",
                           "ok_session_factory", "ok_session", "fake_ok_server"})

ASYNC_HOWTO = (
    "{name} is an async def test using okru's fixtures, and no plugin ran it. Mark it "
    "@pytest.mark.anyio (or the module: pytestmark = pytest.mark.anyio): anyio's pytest plugin comes "
    "with okru[pytest] and runs it on asyncio and trio; an `anyio_backend` fixture returning "
    "'asyncio' or 'trio' picks one (docs/emulator.md, 'Async tests'). pytest-asyncio and pytest-trio "
    "work too."
)


def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """An ``async def`` test that reaches this hook was claimed by no async plugin (anyio's runs
    it in a tryfirst hook; pytest-asyncio and pytest-trio hand pytest a sync wrapper instead).
    pytest's own (trylast) hook would fail it with "async def functions are not natively
    supported"; for a test of okru code, this one says how to run it instead."""
    import inspect

    if inspect.iscoroutinefunction(pyfuncitem.obj) and OKRU_FIXTURES & set(pyfuncitem.fixturenames):
        pytest.fail(ASYNC_HOWTO.format(name=pyfuncitem.name), pytrace=False)
    return None
