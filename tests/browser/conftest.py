"""Real-browser tests of `okru login` (headless Chromium driven by Selenium, `nox -s browser`).

Marked ``browser`` and deselected by the default run (``-m "not browser"`` in pyproject's
addopts); ``nox -s browser`` runs them with ``-m browser``, where a missing Chromium, driver or
Selenium fails loudly (never a skip). Every page the browser shows is saved as a PNG under
``.artifacts/browser/``.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from okru_proto.testing import FakeOK
from okru_trio.testing import run_fake_server

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".artifacts" / "browser"
#: A bound, never a wait: generous because the machine running the suite may be busy.
TIMEOUT = 60.0
#: Flags that work for Debian's chromium as root in a container.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1000,900", "--lang=ru")


def _need(program: str) -> str:
    path = shutil.which(program)
    assert path, f"{program} is not installed: `nox -s browser` installs Debian's chromium and chromium-driver"
    return path


class Page:
    """The browser, with a screenshot of every page it reaches (numbered per test)."""

    def __init__(self, driver: Any, name: str) -> None:
        self.driver = driver
        self.name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        self.shots: list[Path] = []

    def shot(self, label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{len(self.shots) + 1:02d}-{label}.png"
        assert self.driver.save_screenshot(str(path)), path
        self.shots.append(path)
        return path

    def text(self) -> str:
        """What a person reads: the rendered text of the page."""
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def wait_text(self, needle: str, timeout: float = TIMEOUT) -> str:
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        # The page may be replaced while it is read (a navigation): read it again then.
        ignored = (StaleElementReferenceException, NoSuchElementException)
        WebDriverWait(self.driver, timeout, ignored_exceptions=ignored).until(lambda _: needle in self.text())
        return self.text()

    def field(self, label: str) -> Any:
        """The input a ``<label>`` with this text points at (``for=...``), as a person finds it."""
        from selenium.webdriver.common.by import By

        element = self.driver.find_element(By.XPATH, f"//label[normalize-space()='{label}']")
        target = element.get_attribute("for")
        assert target, f"the label {label!r} points at no control"
        return self.driver.find_element(By.ID, target)

    def click_button(self, text: str) -> None:
        from selenium.webdriver.common.by import By

        xpath = (f"//button[normalize-space()='{text}'] | //input[@type='submit' and @value='{text}']"
                 f" | //a[normalize-space()='{text}']")
        self.driver.find_element(By.XPATH, xpath).click()


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[Page]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _need("chromium")
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="okru-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=_need("chromedriver")))
    driver.set_page_load_timeout(TIMEOUT)
    browser_page = Page(driver, request.node.name)
    try:
        yield browser_page
    finally:
        try:
            report = getattr(request.node, "okru_call_report", None)
            if report is not None and report.failed:
                _describe_failure(browser_page)
            driver.quit()
        finally:
            shutil.rmtree(profile, ignore_errors=True)


def _describe_failure(browser_page: Page) -> None:
    # What the browser showed when the test failed: a screenshot and the page's text.
    try:
        path = browser_page.shot("at-failure")
        print(f"browser at failure: {browser_page.driver.current_url}\n{browser_page.text()}\n(screenshot {path})")
    except Exception as exc:  # the browser may be gone (the "browser closed" test quits it)
        print(f"browser at failure: unavailable ({type(exc).__name__})")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.okru_call_report = report  # type: ignore[attr-defined]


@pytest.fixture
def server() -> Iterator[tuple[FakeOK, str]]:
    fake = FakeOK()
    with run_fake_server(fake) as url:
        yield fake, url


class Login:
    """`okru login --no-browser` in a subprocess; its stdout lines can be awaited."""

    def __init__(self, fake: FakeOK, url: str, config_dir: Path, *extra: str) -> None:
        self.config_dir = config_dir
        env = {k: v for k, v in os.environ.items() if not k.startswith("OKRU_")}
        env.update(OKRU_CONFIG_DIR=str(config_dir), PYTHONIOENCODING="utf-8", PYTHONUTF8="1")
        args = [sys.executable, "-m", "okru", "login", "--api-url", url, "--app-id", fake.app_id,
                "--app-key", fake.app_key, "--app-secret-key", fake.app_secret_key, "--no-browser", *extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     encoding="utf-8", env=env)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.errors: list[str] = []
        self._readers = [threading.Thread(target=self._read, daemon=True),
                         threading.Thread(target=self._read_errors, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read_errors(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.errors.append(line)

    def authorize_url(self) -> str:
        while True:
            line = self.lines.get(timeout=TIMEOUT)
            assert line is not None, f"okru login exited early: {self.seen}"
            self.seen.append(line)
            match = re.match(r"^\s+(https?://\S+/oauth/authorize\?\S+)$", line)
            if match:
                return match.group(1)

    def finish(self) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) once okru login exits (bounded)."""
        try:
            self.proc.wait(TIMEOUT)
        finally:
            self.kill()
        for reader in self._readers:
            reader.join(TIMEOUT)
        while True:
            line = self.lines.get(timeout=TIMEOUT)
            if line is None:
                break
            self.seen.append(line)
        return self.proc.returncode, "".join(self.seen), "".join(self.errors)

    def stored(self) -> Path:
        return self.config_dir / "credentials.json"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)


@pytest.fixture
def start_login(server: tuple[FakeOK, str], tmp_path: Path) -> Iterator[Any]:
    started: list[Login] = []

    def start(*extra: str) -> Login:
        fake, url = server
        login = Login(fake, url, tmp_path / "config", *extra)
        started.append(login)
        return login

    yield start
    for login in started:
        login.kill()
