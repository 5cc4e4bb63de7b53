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
