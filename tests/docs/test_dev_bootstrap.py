"""dev.py, the README's quick start: a clear error without venv/ensurepip, and no work when ready.

(The whole path, a fresh clone to a passing `python3 dev.py tests`, is what .ci/run does.)
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_dev() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("okru_dev_bootstrap", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_ensurepip_names_the_debian_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    dev = _load_dev()
    monkeypatch.setattr(dev, "VENV", tmp_path / ".venv-dev")
    monkeypatch.setattr(dev, "STAMP", tmp_path / ".venv-dev" / "stamp")
    real = importlib.util.find_spec
    monkeypatch.setattr(dev.importlib.util, "find_spec",
                        lambda name, *a: None if name == "ensurepip" else real(name, *a))
    with pytest.raises(SystemExit) as exited:
        dev.main(["demo"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("dev.py: error: ") and "ensurepip" in err and "sudo apt install python3-venv" in err
    assert not (tmp_path / ".venv-dev").exists()


def test_a_ready_environment_is_reused_as_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dev = _load_dev()
    venv_dir = tmp_path / ".venv-dev"
    monkeypatch.setattr(dev, "VENV", venv_dir)
    monkeypatch.setattr(dev, "STAMP", venv_dir / "stamp")
    python = dev.venv_python()
    python.parent.mkdir(parents=True)
    python.write_text("")
    (venv_dir / "stamp").write_text(dev.stamp_text(), encoding="utf-8")

    def no_create(*args: object, **kwargs: object) -> None:
        raise AssertionError("a ready environment was made again")

    monkeypatch.setattr(dev, "check_can_create", no_create)
    assert dev.ensure_env() == python
    # Another requirement (or Python) makes it again: the stamp no longer matches.
    monkeypatch.setattr(dev, "REQUIREMENTS", ("nox>=2099",))
    with pytest.raises(AssertionError, match="made again"):
        dev.ensure_env()


def test_help_shows_the_quick_start() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "dev.py"), "--help"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0 and "python3 dev.py tests" in done.stdout


def test_dev_py_reads_as_any_python_3() -> None:
    # The README says "any Python 3": dev.py itself must parse on old ones so it can hand over.
    # (ast's oldest feature_version; f-strings and annotations would still parse there, so
    # the text is checked for them too.)
    source = (ROOT / "dev.py").read_text(encoding="utf-8")
    import ast

    tree = ast.parse(source, feature_version=(3, 4) if sys.version_info < (3, 13) else (3, 7))
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)], "no f-strings in dev.py"
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
                and (n.returns or any(a.annotation for a in n.args.args))], "no annotations in dev.py"
    assert "from __future__" not in source


def test_a_too_old_python_picks_the_newest_that_starts() -> None:
    dev = _load_dev()
    versions = {"python3.13": None, "python3.12": (3, 12), "python3.11": (3, 11)}  # 3.13: a dead shim
    commands = [[name] for name in versions]
    assert dev.newer_python(commands, probe=lambda c: versions[c[0]]) == ["python3.12"]
    assert dev.newer_python([["python3.9"]], probe=lambda c: (3, 9)) is None
    found = dev.candidate_commands(which=lambda name: "/opt/bin/" + name if name in ("python3.10", "python3.12") else None)
    assert found[:2] == [["/opt/bin/python3.12"], ["/opt/bin/python3.10"]]


def test_a_too_old_python_with_none_newer_says_what_to_do(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    dev = _load_dev()
    monkeypatch.setattr(dev, "MIN_PYTHON", (99, 0))
    monkeypatch.setattr(dev, "candidate_commands", lambda: [])
    with pytest.raises(SystemExit) as exited:
        dev.main(["tests"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "okru needs Python 99.0 or newer" in err and sys.executable in err and "none was found on PATH" in err


def test_a_too_old_python_hands_over_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The newer Python runs dev.py with the same arguments, marked so it never hands over again.
    dev = _load_dev()
    monkeypatch.setattr(dev, "MIN_PYTHON", (99, 0))
    monkeypatch.delenv(dev.HANDOVER_ENV, raising=False)
    seen = tmp_path / "seen.txt"
    fake = tmp_path / "python99"
    fake.write_text("#!/bin/sh\nprintf '%s|' \"$@\" \"$" + dev.HANDOVER_ENV + "\" > " + str(seen) + "\nexit 7\n")
    fake.chmod(0o755)
    monkeypatch.setattr(dev, "candidate_commands", lambda: [[str(fake)]])
    monkeypatch.setattr(dev, "probe", lambda command: (99, 1))
    monkeypatch.setattr(dev, "newer_python", lambda commands, probe=None: commands[0])
    assert dev.main(["tests", "-x"]) == 7
    assert seen.read_text().split("|")[:4] == [str(ROOT / "dev.py"), "tests", "-x", "1"]
    monkeypatch.setenv(dev.HANDOVER_ENV, "1")
    with pytest.raises(SystemExit):
        dev.main(["tests"])
