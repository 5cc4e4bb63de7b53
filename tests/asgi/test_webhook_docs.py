"""docs/bots.md's "Try a webhook with curl" works as written (issue 21): its literal body is the
one its curl line sends, and that exact request, against a real ``okru bot serve --any-source``
process with no token, is answered 200 and printed as the page says; again, it is a repeat;
without the content type it is a 400 that says what to send. The request is replayed from the
curl line's own arguments with httpx, and run by curl itself where curl is installed."""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import WAIT

pytestmark = pytest.mark.network

PAGE = Path(__file__).resolve().parents[2] / "docs" / "bots.md"
DOC_URL = "http://127.0.0.1:8080/"


def section() -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index("## Try a webhook with curl")
    return text[start:text.index("\n## ", start + 1)]


def fenced(kind: str) -> list[str]:
    return re.findall(rf"^```{kind}\n(.*?)^```", section(), re.MULTILINE | re.DOTALL)


def curl_argv() -> list[str]:
    (line,) = [line for block in fenced("sh") for line in block.splitlines() if line.startswith("curl ")]
    return shlex.split(line)


def as_request(argv: list[str], url: str) -> dict[str, Any]:
    """What curl sends for the options the page uses (-i, -H, -d, the URL): -d without a
    Content-Type header is sent as a form, as curl does."""
    headers: dict[str, str] = {}
    data: str | None = None
    target = None
    args = iter(argv[1:])
    for arg in args:
        if arg == "-i":
            continue
        if arg == "-H":
            name, _, value = next(args).partition(":")
            headers[name.strip().lower()] = value.strip()
        elif arg == "-d":
            data = next(args)
        elif arg.startswith("http"):
            target = arg
        else:
            raise AssertionError(f"the docs' curl line uses {arg!r}, which this test does not replay")
    assert target == DOC_URL, target
    assert data is not None
    headers.setdefault("content-type", "application/x-www-form-urlencoded")
    return {"method": "POST", "url": url, "headers": headers, "content": data.encode()}


def test_the_literal_body_is_what_the_curl_line_sends() -> None:
    (body,) = fenced("json")
    request = as_request(curl_argv(), DOC_URL)
    assert json.loads(request["content"]) == json.loads(body)
    assert request["headers"]["content-type"] == "application/json"
    assert "okru bot serve --any-source --port 8080" in fenced("sh")[0]


class Serve:
    """``okru bot serve --any-source`` with no token in its environment; its stdout lines."""

    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("OKRU_BOT_TOKEN", "OKRU_API_URL")}
        env["PYTHONUTF8"] = "1"
        self.proc = subprocess.Popen([sys.executable, "-m", "okru", "bot", "serve", "--any-source", "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self.lines.get(timeout=WAIT)
        assert first is not None and first.startswith("http://127.0.0.1:"), first
        self.url = first.strip()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def stop(self) -> tuple[list[str], str]:
        """SIGINT (Ctrl-C); the lines printed after the URL, and stderr."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(WAIT)
        rest = []
        while (line := self.lines.get(timeout=WAIT)) is not None:
            rest.append(line)
        assert self.proc.stderr is not None
        return rest, self.proc.stderr.read()


@pytest.fixture
def serve() -> Iterator[Serve]:
    server = Serve()
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(WAIT)


def test_the_curl_line_against_okru_bot_serve(serve: Serve) -> None:
    argv = curl_argv()
    request = as_request(argv, serve.url)
    with httpx.Client(timeout=WAIT) as client:
        first = client.request(**request)
        assert first.status_code == 200
        event = json.loads(serve.lines.get(timeout=WAIT) or "null")
        assert event == {"type": "MESSAGE_CREATED", "event": json.loads(request["content"])}
        assert client.request(**request).status_code == 200  # again: a repeat, not printed
        # Without the content type, curl -d sends a form: 400, saying what is expected.
        form = {**request, "headers": {"content-type": "application/x-www-form-urlencoded"}}
        refused = client.request(**form)
    assert refused.status_code == 400
    assert "a JSON object, Content-Type application/json" in refused.text
    assert "application/x-www-form-urlencoded" in refused.text
    if shutil.which("curl") is not None:  # the line itself, as a reader runs it
        command = [serve.url if arg == DOC_URL else arg for arg in argv]
        command.insert(1, "-sS")
        done = subprocess.run(command, capture_output=True, text=True, timeout=WAIT, check=True)
        assert done.stdout.startswith("HTTP/1.1 200"), done.stdout
    rest, err = serve.stop()
    assert rest == [], rest  # the repeats were not printed
    assert "printing events only" in err
    assert "answered 400 to a body that is not an OK.ru webhook event" in err
