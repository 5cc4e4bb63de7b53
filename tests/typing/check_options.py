# Checked by mypy, never run (see check_api_await.py): session options are typed keywords.
from __future__ import annotations

import okru_httpx
import okru_httpx.sync
import okru_trio
from okru_proto import RetryPolicy, Token


def save(token: Token) -> None:
    pass


async def asave(token: Token) -> None:
    pass


def good() -> None:
    okru_httpx.sync.ServerSession(1, "K", "S", "T", on_token=save, retry=RetryPolicy(), timeout=5.0)
    okru_httpx.ClientSession(1, "K", "T", "SS", on_token=asave, max_response_bytes=1 << 20)
    okru_trio.PasswordSession(1, "K", None, "login", "pw", max_connections=4, read_timeout=None)


def typos() -> None:
    okru_httpx.sync.ServerSession(1, "K", "S", "T", on_tokn=save)  # type: ignore[call-arg]
    okru_trio.AppSession(1, "K", "S", timeuot=5)  # type: ignore[call-arg]


def wrong_types() -> None:
    okru_httpx.PublicSession(app_key="K", retry=3)  # type: ignore[arg-type]
    okru_httpx.PublicSession(app_key="K", on_token="save")  # type: ignore[arg-type]


async def token_after_grant(session: okru_httpx.PasswordSession) -> str:
    async with session:
        token = session.authorized_token  # a Token, not Optional: no assert needed
        uid: str | None = token.uid
        return token.access_token.reveal() + (uid or "")


def optional_attributes(session: okru_httpx.sync.PasswordSession) -> str:
    return session.access_token.upper()  # type: ignore[union-attr]
