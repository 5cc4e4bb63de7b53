"""The httpx log filter is explicit: installed by the first okru session, not by import; removable."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import httpx
import pytest

import okru_httpx
import okru_httpx.sync
from okru_proto.adapter import API

TOKEN = "tok-0123456789-secret"
ARGS = (512000, "CBAKEY", "AppSecret-xyz", TOKEN)


def _client() -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": 1})))


def _httpx_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "httpx"]


def test_import_installs_nothing_and_the_first_session_does() -> None:
    # A fresh interpreter: importing okru_httpx leaves httpx's loggers as they were.
    code = textwrap.dedent("""
        import logging
        import okru_httpx, okru_httpx.sync
        assert not logging.getLogger("httpx").filters, "installed at import"
        assert not okru_httpx.log_filter_installed()
        okru_httpx.sync.PublicSession(app_key="K")
        assert okru_httpx.log_filter_installed()
        assert len(logging.getLogger("httpx").filters) == 1
        okru_httpx.sync.PublicSession(app_key="K")  # idempotent
        assert len(logging.getLogger("httpx").filters) == 1
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_bots_install_it_too() -> None:
    code = textwrap.dedent("""
        import okru_httpx, okru_httpx.sync
        assert not okru_httpx.log_filter_installed()
        okru_httpx.sync.BotSession("group-token")
        assert okru_httpx.log_filter_installed()
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_remove_then_install(caplog: pytest.LogCaptureFixture) -> None:
    try:
        okru_httpx.remove_log_filter()
        assert not okru_httpx.log_filter_installed()
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="httpx"), \
                okru_httpx.sync.ServerSession(*ARGS, client=_client(), http_method="GET") as session:
            # Removed stays removed: a session made now does not put it back.
            assert not okru_httpx.log_filter_installed()
            API(session).users.getCurrentUser()
        lines = _httpx_lines(caplog)
        assert lines and any(TOKEN in line for line in lines)

        okru_httpx.install_log_filter()
        assert okru_httpx.log_filter_installed()
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="httpx"), \
                okru_httpx.sync.ServerSession(*ARGS, client=_client(), http_method="GET") as session:
            API(session).users.getCurrentUser()
        lines = _httpx_lines(caplog)
        assert lines and all(TOKEN not in line for line in lines)
        assert any("access_token=***" in line for line in lines)
    finally:
        okru_httpx.install_log_filter()


def test_the_same_functions_on_both_modules() -> None:
    for name in ("install_log_filter", "remove_log_filter", "log_filter_installed"):
        assert getattr(okru_httpx, name) is getattr(okru_httpx.sync, name)
