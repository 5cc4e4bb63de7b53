"""Helpers for the CLI tests: run the real entry point in a subprocess, against the emulator.

Every subprocess is bounded by a timeout; servers are waited for by reading the line they print
(never by sleeping).
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from okru_proto.testing import FakeOK
from okru_pytest import OKTestServer

TIMEOUT = 60.0

#: The emulator's secrets; none may ever appear in what the command prints.
FAKE_SECRETS = (FakeOK.app_secret_key, FakeOK.user_password)
#: Shapes of the emulator's tokens and 32-hex secrets (session secrets, derived secrets).
TOKEN_RE = re.compile(r"\b[a-z0-9]{5}\.[a-z0-9]{32}\b")
HEX32_RE = re.compile(r"\b[0-9a-f]{32}\b")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def clean_env(config_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKRU_")}
    env.update(OKRU_CONFIG_DIR=str(config_dir), PYTHONIOENCODING="utf-8", PYTHONUTF8="1")
    env.update(extra)
    return env


def okru_command(script: bool = False) -> list[str]:
    if script:
        path = Path(sys.executable).parent / "okru"
        # The distribution's entry point must be installed with the package (pip install -e .).
        assert path.exists(), f"the okru console script is missing next to {sys.executable}"
        return [str(path)]
    return [sys.executable, "-m", "okru"]


class Runner:
    """Runs ``okru ...`` in a subprocess with a clean environment and its own config dir."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self.env = clean_env(config_dir)

    def __call__(self, *args: str, script: bool = False, env: dict[str, str] | None = None,
                 timeout: float = TIMEOUT) -> Result:
        done = subprocess.run([*okru_command(script), *args], capture_output=True, text=True, encoding="utf-8",
                              env={**self.env, **(env or {})}, timeout=timeout, check=False)
        return Result(done.returncode, done.stdout, done.stderr)

    def popen(self, *args: str, env: dict[str, str] | None = None) -> LineProcess:
        with _sigint_not_ignored():
            proc = subprocess.Popen([*okru_command(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, encoding="utf-8", env={**self.env, **(env or {})})
        return LineProcess(proc)


@contextlib.contextmanager
def _sigint_not_ignored() -> Iterator[None]:
    # A non-interactive shell starts a background job (`pytest ... &`) with SIGINT ignored, and an
    # ignored signal stays ignored across fork and exec: the child's Ctrl-C would then do nothing
    # and a test of it would hang. A handler, unlike SIG_IGN, is reset to the default by exec.
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.SIG_IGN):
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class LineProcess:
    """A running ``okru`` whose stdout lines can be awaited with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._err_reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def wait_line(self, pattern: str, timeout: float = TIMEOUT) -> re.Match[str]:
        """The first (new) stdout line matching ``pattern``; fails on EOF or timeout."""
        regex = re.compile(pattern)
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                self.kill()
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s; got {self.seen}") from None
            if line is None:
                raise AssertionError(f"okru exited before printing {pattern!r}: {self.finish()}")
            self.seen.append(line)
            match = regex.search(line)
            if match:
                return match

    def finish(self, timeout: float = TIMEOUT) -> Result:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._reader.join(timeout)
        self._err_reader.join(timeout)
        rest: list[str] = []
        while True:
            try:
                item = self.lines.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                rest.append(item)
        self.seen += rest
        return Result(self.proc.returncode, "".join(self.seen), "".join(self.stderr))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)


@pytest.fixture
def okru(tmp_path: Path) -> Runner:
    return Runner(tmp_path / "config")


@pytest.fixture
def server(fake_ok_server: OKTestServer) -> tuple[FakeOK, str]:
    """The emulator on a loopback port, in this process (so tests can inspect and script it):
    okru's own pytest plugin's ``fake_ok_server``, as a (fake, url) pair."""
    return fake_ok_server.fake, fake_ok_server.url


def assert_one_error_line(result: Result, code: int, *needles: str) -> str:
    """Exactly one ``okru: error: ... — ...`` line on stderr, the given exit code, no stdout."""
    assert result.returncode == code, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("okru: error: "), line
    for needle in needles:
        assert needle in line, line
    return line


def assert_no_secrets(text: str, *secrets: str) -> None:
    for secret in (*FAKE_SECRETS, *secrets):
        assert secret not in text, f"a secret leaked: {secret[:4]}…"
    assert not TOKEN_RE.search(text), TOKEN_RE.search(text)
