# Checked by mypy (nox -s typing, and tests/typing/test_typing.py), never run: each type-ignore
# comment with an error code marks an error mypy MUST report on that line (warn_unused_ignores
# turns a vanished error into a failure), and every other line must type-check.
from __future__ import annotations

from typing import Any

import okru_httpx
import okru_httpx.sync
import okru_trio
from okru_httpx import API  # the same API every adapter exports (okru_trio.API is it too)


async def missing_await_httpx(session: okru_httpx.ClientSession) -> None:
    me = API(session).users.getCurrentUser()
    me["name"]  # type: ignore[index]


async def missing_await_trio(session: okru_trio.ClientSession) -> None:
    me = API(session).users.getInfo(uids="1")
    me[0]  # type: ignore[index]


async def awaited_httpx(session: okru_httpx.ClientSession) -> Any:
    me = await API(session).users.getCurrentUser()
    return me["name"]


async def awaited_trio(session: okru_trio.PasswordSession) -> Any:
    api = API(session)
    return (await api("users.getInfo", uids="1"))[0]


def blocking(session: okru_httpx.sync.ClientSession) -> Any:
    me = API(session).users.getCurrentUser()
    return me["name"]


def blocking_session_in_async_code(session: okru_httpx.ClientSession) -> None:
    # An async session's call from plain code: the coroutine is not the result.
    result = API(session).friends.get()
    result.keys()  # type: ignore[attr-defined]


def not_a_session() -> None:
    API(object())  # type: ignore[arg-type]
