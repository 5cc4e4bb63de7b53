"""README.md, run the way it tells a reader to (okru issue 21).

One fresh virtual environment per test session, in a temporary directory, with exactly the
README's install line run in it (from this checkout; pip's cache is reused). Then every python
block runs as its first line says:

* ``# paste into: python3 -m asyncio``: the block is typed into ONE real ``python -m asyncio``
  REPL of that environment (standard input, each block followed by an empty line, as pasted),
  in the README's order; a traceback anywhere fails the test;
* ``# save as NAME.py, run: python3 NAME.py``: the block is saved as NAME.py and run by that
  environment's Python.

A block that does not say how it runs fails ``test_every_readme_block_says_how_to_run_it``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
REPL = "# paste into: python3 -m asyncio"
SCRIPT = re.compile(r"^# save as (?P<name>[\w-]+\.py), run: python3 (?P=name)$")
#: What one pip install may take at most (downloads included); a stuck index fails, never hangs.
INSTALL_TIMEOUT = 600
RUN_TIMEOUT = 120


def fenced(text: str, language: str) -> list[tuple[int, str]]:
    """(line, code) of every ```language block of ``text``, in order."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(3)) for m in FENCE.finditer(text)
            if m.group(1) == language]


def section(text: str, title: str) -> str:
    """The text under the ``## title`` heading, up to the next ``## `` heading."""
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def install_commands(text: str) -> list[list[str]]:
    """The ``python3 -m pip install ...`` lines of the first shell block under "## Install": what
    a reader runs, inside the virtual environment the block's first line made."""
    blocks = fenced(section(text, "Install"), "sh")
    assert blocks, "README's Install section has no shell block"
    lines = [line.split("#")[0].strip() for line in blocks[0][1].splitlines()]
    commands = [shlex.split(line) for line in lines if line.startswith("python3 -m pip install ")]
    assert commands, f"no `python3 -m pip install` line in README's install block:\n{blocks[0][1]}"
    return commands


def how_to_run(code: str) -> tuple[str, str]:
    """("repl", "") or ("script", file name), from the block's first line."""
    first = code.splitlines()[0] if code.strip() else ""
    if first == REPL:
        return "repl", ""
    match = SCRIPT.match(first)
    if match:
        return "script", match.group("name")
    raise AssertionError(f"a README block's first line must say how to run it ({REPL!r} or "
                         f"'# save as NAME.py, run: python3 NAME.py'), not {first!r}")


def test_every_readme_block_says_how_to_run_it() -> None:
    text = README.read_text(encoding="utf-8")
    found = fenced(text, "python")
    assert len(found) >= 5
    modes = [how_to_run(code)[0] for _, code in found]
    assert modes[0] == "repl" and modes[-1] == "repl"  # start the emulator first, stop it last
    assert install_commands(text)


@pytest.fixture(scope="session")
def reader_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding exactly what README's install line installs."""
    venv = tmp_path_factory.mktemp("reader") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=RUN_TIMEOUT,
                   capture_output=True)
    python = venv / "bin" / "python"
    for command in install_commands(README.read_text(encoding="utf-8")):
        assert command[:3] == ["python3", "-m", "pip"]
        done = subprocess.run([str(python), *command[1:]], cwd=ROOT, capture_output=True, text=True,
                              timeout=INSTALL_TIMEOUT, check=False, env=_env())
        assert done.returncode == 0, f"{shlex.join(command)} failed:\n{done.stdout}{done.stderr}"
    return venv


def _env() -> dict[str, str]:
    # Nothing of this test run leaks into the reader's environment: not our venv, not PYTHONPATH.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith("OKRU_")}
    env.update(PYTHONIOENCODING="utf-8", PYTHONUTF8="1")
    return env


#: Typed after the README's last block, to look at what its session holds (stdout, one JSON line).
CHECK = textwrap.dedent("""\
    import json, threading
    print("README-CHECK " + json.dumps({
        "me": me["uid"] == user_id, "user": user["uid"] == user_id, "friends": len(friends),
        "info": info[0]["uid"] == user_id,
        "servers": sum(t.name == "okru-fake-server" for t in threading.enumerate())}))
    """)


@pytest.mark.network
@pytest.mark.timeout(INSTALL_TIMEOUT + 4 * RUN_TIMEOUT)  # building the venv is part of this test's setup
def test_readme_runs_as_it_tells_a_reader(reader_venv: Path, tmp_path: Path) -> None:
    python = reader_venv / "bin" / "python"
    # Only what was installed: no test-only package is there to make a sample pass by accident.
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True,
                            text=True, timeout=RUN_TIMEOUT, check=True, env=_env())
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "okru" in names and not names & {"pytest", "redis", "uvicorn", "hypothesis"}, names

    text = README.read_text(encoding="utf-8")
    session: list[str] = []
    scripts: list[tuple[int, str, str]] = []
    for line, code in fenced(text, "python"):
        mode, name = how_to_run(code)
        if mode == "repl":
            session.append(code.rstrip("\n") + "\n\n")  # pasted, then Enter on an empty line
        else:
            scripts.append((line, name, code))

    repl = subprocess.run([str(python), "-m", "asyncio"], input="".join(session) + CHECK, cwd=tmp_path,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False, env=_env())
    assert "Traceback" not in repl.stderr, repl.stderr
    checked = re.findall(r"README-CHECK (\{.*\})", repl.stdout)
    assert len(checked) == 1, f"the session did not get to the end:\n{repl.stdout}\n{repl.stderr}"
    state = json.loads(checked[0])
    assert state == {"me": True, "user": True, "friends": 3, "info": True, "servers": 0}, state

    assert scripts, "the README's trio sample is a script"
    for line, name, code in scripts:
        (tmp_path / name).write_text(code, encoding="utf-8")
        done = subprocess.run([str(python), name], cwd=tmp_path, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, check=False, env=_env())
        assert done.returncode == 0, f"README.md:{line} ({name}) failed:\n{done.stdout}{done.stderr}"
        assert "posted topic" in done.stdout and "Привет, мир!" in done.stdout, done.stdout
