"""Every ```python block in README.md and docs/*.md runs here, against the emulator, so the docs
cannot rot.

Conventions for sample authors:

* Blocks of one file run in order in one namespace (a later block may use an earlier one's
  names), as if typed into one interpreter session.
* Samples are written like production code: sessions are built **without** ``endpoints=``. The
  harness points the default :class:`okru_proto.Endpoints` at a loopback emulator
  (``okru_trio.testing.run_fake_server``), and refuses DNS lookups of any non-loopback host,
  so a sample can never reach the real OK.ru.
* The harness provides these names (the demo app and user of :class:`FakeOK`):
  ``fake`` (the emulator behind the default endpoints), ``emulator_url``, ``endpoints`` (an
  explicit ``Endpoints`` for it, for samples that show the option), ``user_id``, ``app_id``,
  ``app_key``, ``app_secret_key``, ``login``, ``password``, ``redirect_uri``
  (``http://localhost/callback``), ``state``, ``code`` and ``callback_url`` (a fresh
  authorization code for ``redirect_uri`` and the URL OK redirects the browser to, with
  ``state``), ``access_token``, ``session_secret_key``, ``refresh_token`` (a fresh token with
  the permissions of the README's token: its first block's ``scope``), ``group_id`` (25 members), ``photo_path``
  (a small JPEG file) and ``send`` (``Request -> Response`` answered by ``fake``).
  Fresh values are given to each block, unless the doc itself rebound the name.
* A block with top-level ``await``/``async with``/``async for`` runs as a coroutine under
  asyncio, or under trio when it contains the comment ``# run: trio``.
* A block with the comment ``# run: pytest`` is a test module for a user's project: it is written
  to a file and run by ``python -m pytest`` in a subprocess (okru's pytest plugin loads through
  its entry point, as in a user's project); every test in it must pass.
* ```python no-run opts a block out (keep it for things that cannot run here); anything else
  must run.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import ipaddress
import re
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from okru_proto import Endpoints
from okru_proto.testing import FakeOK

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(64)) + b"\xff\xd9"


def _readme_scope() -> tuple[str, ...]:
    """The permissions of the README's emulator token and code (its ``scope = [...]``): the pages'
    samples get exactly those, so one that needs more fails here, as it would in the README's
    session (docs/index.md tells readers to try them there)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first = FENCE.search(text)
    assert first is not None, "README.md has no python block"
    for node in ast.parse(first.group(2)).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["scope"]:
            return tuple(ast.literal_eval(node.value))
    raise AssertionError("README.md's first block sets no `scope = [...]` for its token and code")


SCOPES = _readme_scope()


def blocks(path: Path) -> list[tuple[int, str, str]]:
    """(line, info string after ```python, code) of every python block in ``path``."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1).strip(), m.group(2)) for m in FENCE.finditer(text)]


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[FakeOK, str]]:
    testing = importlib.import_module("okru_trio.testing")
    fake = FakeOK()
    with testing.run_fake_server(fake) as url:
        yield fake, url


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            loopback = name == "localhost" or ipaddress.ip_address(name.strip("[]")).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise OSError(f"docs samples may only reach loopback hosts, not {name!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _fresh(fake: FakeOK, url: str, photo_path: Path) -> dict[str, Any]:
    redirect_uri = "http://localhost/callback"
    state = "st-2024"
    code = fake.authorize_code(redirect_uri=redirect_uri, scope=SCOPES)
    issued = fake.issue_token(scope=SCOPES)
    return {
        "fake": fake,
        "emulator_url": url,
        "endpoints": Endpoints(api=url, connect=url),
        "user_id": fake.user_id,
        "app_id": fake.app_id,
        "app_key": fake.app_key,
        "app_secret_key": fake.app_secret_key,
        "login": fake.user_login,
        "password": fake.user_password,
        "redirect_uri": redirect_uri,
        "state": state,
        "code": code,
        "callback_url": f"{redirect_uri}?code={quote(code, safe='')}&state={state}",
        "access_token": issued["access_token"],
        "session_secret_key": issued["session_secret_key"],
        "refresh_token": issued["refresh_token"],
        "group_id": fake.group_id,
        "photo_path": str(photo_path),
        "send": fake.handle,
        "bot_token": fake.bots.access_token,  # docs/bots.md: the emulator's group bot
        "chat_id": fake.bots.chat_id,
        "photo_bytes": JPEG,
    }


def _same(a: object, b: object) -> bool:
    try:
        return a is b or bool(a == b)
    except Exception:
        return False


def _run_pytest_block(code: str, where: str) -> None:
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "test_docs_sample.py"
        path.write_text(code, encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", tmp,
                               str(path)], cwd=tmp, capture_output=True, text=True, timeout=240, check=False)
    tests = len(re.findall(r"^(?:async )?def test_", code, re.MULTILINE))
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    passed = re.match(r"(\d+) passed(?:, \d+ warnings?)? in ", summary)  # nothing failed, skipped, xfailed, errored
    if done.returncode != 0 or not passed or int(passed.group(1)) < tests:
        raise AssertionError(f"pytest sample {where}: expected all of its {tests} tests (with their "
                             f"parameters) to pass, and nothing else:\n{done.stdout}{done.stderr}")


def _run_block(code: str, namespace: dict[str, Any], where: str) -> None:
    if "# run: pytest" in code:
        _run_pytest_block(code, where)
        return
    compiled = compile(code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if not compiled.co_flags & inspect.CO_COROUTINE:
        exec(compiled, namespace)
        return
    if "# run: trio" in code:
        import trio

        async def main() -> None:
            await eval(compiled, namespace)

        trio.run(main)
    else:
        asyncio.run(eval(compiled, namespace))


#: Pages without Python samples: shell commands (tests/cli runs the CLI for real) and tables
#: (protocol.md: the OK.ru rules; tests/docs/test_protocol_refs.py checks its citations).
SHELL_ONLY = {"cli.md", "performance.md", "protocol.md"}


def test_every_page_has_python_samples_or_is_known_shell_only() -> None:
    without = {path.name for path in DOCS if not blocks(path)}
    assert without == SHELL_ONLY


#: README.md brings up its own emulator and says how each block runs: tests/docs/test_readme_reader.py
#: runs it that way, in a fresh virtual environment.
AS_PASTED = {"README.md"}


@pytest.mark.network
@pytest.mark.parametrize("path", [p for p in DOCS if p.name not in SHELL_ONLY | AS_PASTED],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_python_samples_run(path: Path, emulator: tuple[FakeOK, str], loopback_only: None,
                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = blocks(path)
    assert found, f"{path.name} has no python samples"
    fake, url = emulator
    monkeypatch.setattr(Endpoints.__init__, "__defaults__", (url, url))
    photo_path = tmp_path / "photo.jpg"
    photo_path.write_bytes(JPEG)
    namespace: dict[str, Any] = {"__name__": f"docs_{path.stem}"}
    given: dict[str, Any] = {}
    for line, info, code in found:
        if info == "no-run":
            continue
        assert not info, f"{path.name}:{line}: unknown block marker {info!r} (only 'no-run')"
        fresh = _fresh(fake, url, photo_path)
        for name, value in fresh.items():
            # Refresh what the harness gave (or an equal value, e.g. the code parse_callback
            # read from callback_url), but never a name the doc rebound to something else.
            if name not in namespace or (name in given and _same(namespace[name], given[name])):
                namespace[name] = value
        given = fresh
        where = f"{path.relative_to(ROOT)}:{line}"
        try:
            _run_block(textwrap.dedent(code), namespace, where)
        except BaseException as exc:
            raise AssertionError(f"the sample at {where} failed: {type(exc).__name__}: {exc}") from exc


def test_opt_outs_are_rare() -> None:
    skipped = [(p.name, line) for p in DOCS for line, info, _ in blocks(p) if info == "no-run"]
    total = sum(len(blocks(p)) for p in DOCS)
    assert total >= 20, "the docs should show (and so test) every helper"
    assert len(skipped) <= max(3, total // 10), skipped
