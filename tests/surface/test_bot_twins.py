"""Every adapter's ``BotSession`` has the same methods and signatures: the async ones are
coroutines (``chats`` an async generator), the blocking one's plain functions."""

from __future__ import annotations

import inspect

import okru_httpx
import okru_httpx.sync
import okru_trio


def _methods(cls: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(value) for name, value in inspect.getmembers(cls)
            if not name.startswith("_") and callable(value)}


def test_bot_sessions_are_twins() -> None:
    sync, asyncs = okru_httpx.sync.BotSession, (okru_httpx.BotSession, okru_trio.BotSession)
    expected = _methods(sync)
    assert {"info", "chats", "chats_page", "chat", "chat_url", "messages", "send", "send_to_users", "answer",
            "history", "edit", "upload", "send_file", "subscribe", "unsubscribe", "subscriptions", "close"} <= set(expected)
    for cls in asyncs:
        assert inspect.signature(cls) == inspect.signature(sync)
        got = _methods(cls)
        assert set(got) - {"aclose", "close"} == set(expected) - {"close"}, cls
        for name, signature in expected.items():
            if name == "close":
                continue
            if name == "run_polling":
                # The blocking one also stops on a threading.Event; the async ones bound each
                # handler in time (a blocking call cannot be cancelled).
                params = [p for p in signature.parameters.values() if p.name != "stop"]
                signature = signature.replace(parameters=params)
                got[name] = got[name].replace(parameters=[p for p in got[name].parameters.values()
                                                          if p.name != "handler_timeout"])
            if name in ("chats", "history", "updates"):  # AsyncIterator vs Iterator
                assert inspect.isasyncgenfunction(getattr(cls, name)) and inspect.isgeneratorfunction(getattr(sync, name))
                signature = signature.replace(return_annotation=got[name].return_annotation)
            else:
                assert inspect.iscoroutinefunction(getattr(cls, name)), f"{cls.__name__}.{name}"
                assert not inspect.iscoroutinefunction(getattr(sync, name)), name
            assert got[name] == signature, f"{cls.__module__}.{cls.__name__}.{name}"
    assert "BotSession" in okru_httpx.__all__ and "BotSession" in okru_httpx.sync.__all__
    assert "BotSession" in okru_trio.__all__
