"""okru_trio has the same names and session shape as okru_httpx (async)."""

from __future__ import annotations

import inspect

import okru_httpx
import okru_trio

SESSIONS = ["CodeSession", "ImplicitSession", "PasswordSession", "RefreshSession", "ClientSession",
            "ServerSession", "PublicSession", "AppSession"]


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(getattr(cls, name)) for name in dir(cls)
            if not name.startswith("_") and callable(getattr(cls, name))}


def test_same_session_names_and_shapes() -> None:
    for name in [*SESSIONS, "API", "Endpoints", "RetryPolicy", "Token"]:
        assert name in okru_trio.__all__ and name in okru_httpx.__all__, name
    assert okru_trio.API is okru_httpx.API
    for name in SESSIONS:
        trio_cls, httpx_cls = getattr(okru_trio, name), getattr(okru_httpx, name)
        # aiookru's positional parameters are the same (transport options differ by design)
        assert list(inspect.signature(trio_cls).parameters) == list(inspect.signature(httpx_cls).parameters)
        trio_methods, httpx_methods = _public(trio_cls), _public(httpx_cls)
        for method in ("call", "authorize", "refresh", "upload_photos", "pages", "items", "aclose"):
            assert trio_methods[method] == httpx_methods[method], f"{name}.{method}"
            assert inspect.iscoroutinefunction(getattr(trio_cls, method)) == inspect.iscoroutinefunction(
                getattr(httpx_cls, method)), f"{name}.{method}"
        for attribute in ("access_token", "session_key", "session_secret_key", "permissions_granted",
                          "permission_granted", "state", "token_type", "refresh_token", "expires_in"):
            assert hasattr(trio_cls, attribute) and hasattr(httpx_cls, attribute), attribute
