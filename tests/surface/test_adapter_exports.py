"""Every adapter exports the same application-facing names (issue 12: okru_httpx had Error,
okru_trio did not), with the same objects where they come from the core."""

from __future__ import annotations

import pytest

import okru_httpx
import okru_httpx.sync
import okru_proto
import okru_trio
from okru_proto import adapter

#: What an application gets from any adapter module.
COMMON = {
    "API", "Endpoints", "Error", "RetryPolicy", "Token",
    "AppSession", "BotSession", "ClientSession", "CodeSession", "ImplicitSession", "PasswordSession",
    "PublicSession", "RefreshSession", "ServerSession",
    "DEFAULT_TIMEOUT", "DEFAULT_CONNECT_TIMEOUT", "DEFAULT_READ_TIMEOUT", "DEFAULT_MAX_RESPONSE_BYTES",
}
#: Names one adapter adds on top, each for a reason of its own.
EXTRA = {
    okru_httpx: {"HttpxSession", "DEFAULT_LIMITS", "install_log_filter", "remove_log_filter",
                 "log_filter_installed"},
    okru_httpx.sync: {"HttpxSession", "DEFAULT_LIMITS", "install_log_filter", "remove_log_filter",
                      "log_filter_installed"},
    okru_trio: {"TrioSession", "H11Transport"},
}


@pytest.mark.parametrize("module", list(EXTRA), ids=lambda m: m.__name__)
def test_the_same_names(module) -> None:
    assert set(module.__all__) == COMMON | EXTRA[module]
    for name in module.__all__:
        assert getattr(module, name) is not None


@pytest.mark.parametrize("module", list(EXTRA), ids=lambda m: m.__name__)
def test_core_names_are_the_core_objects(module) -> None:
    for name in ("Endpoints", "Error", "RetryPolicy", "Token"):
        assert getattr(module, name) is getattr(okru_proto, name)
    assert module.API is adapter.API
    for name in ("DEFAULT_TIMEOUT", "DEFAULT_CONNECT_TIMEOUT", "DEFAULT_READ_TIMEOUT", "DEFAULT_MAX_RESPONSE_BYTES"):
        assert getattr(module, name) == getattr(adapter, name)


SESSIONS = ("Code", "Implicit", "Password", "Refresh", "Client", "Server", "App", "Public")


@pytest.mark.parametrize("module", list(EXTRA), ids=lambda m: m.__name__)
def test_session_docstrings_are_stated_once_in_the_core(module) -> None:
    import inspect

    for short in SESSIONS:
        cls = getattr(module, f"{short}Session")
        spec = getattr(adapter, f"{short}SessionSpec")
        assert cls.__dict__.get("__doc__") is None, f"{module.__name__}.{cls.__name__} re-words its docstring"
        assert inspect.getdoc(cls) == inspect.getdoc(spec)
        assert f"{short}Session(" in inspect.getdoc(cls)
