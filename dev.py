#!/usr/bin/env python3
"""Run a development task with nothing installed but Python 3: ``python3 dev.py SESSION [ARGS...]``.

    python3 dev.py demo            # okru demo against the loopback emulator
    python3 dev.py tests           # the whole test suite (ARGS go to pytest: -x -k name ...)
    python3 dev.py                 # list the sessions (they are noxfile.py's)

Why this file exists: ``python3 -m pip install nox`` is refused by a Debian/Ubuntu system Python
(PEP 668, "externally-managed-environment"), and installing into a user's Python is not ours to do.
So this script (standard library only) makes a private virtual environment inside the checkout,
``.venv-dev/`` (git-ignored), installs nox there once, and runs ``nox -s SESSION -- ARGS``. nox
keeps each session's environment in ``.nox/`` and reuses it (``-r``), so a second run only checks
what is installed. Delete ``.venv-dev/`` and ``.nox/`` to start over.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv-dev"
#: What goes into the private environment; the stamp file records it, so changing it reinstalls.
REQUIREMENTS = ("nox>=2024.3",)
STAMP = VENV / "okru-dev-stamp.txt"
MIN_PYTHON = (3, 10)


def fail(message: str) -> NoReturn:
    print(f"dev.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def stamp_text() -> str:
    return "\n".join([sys.version.split()[0], sys.executable, *REQUIREMENTS]) + "\n"


def check_can_create() -> None:
    missing = [name for name in ("venv", "ensurepip") if importlib.util.find_spec(name) is None]
    if missing:
        minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
        fail(f"this Python ({sys.executable}) has no {' and no '.join(missing)} module, needed to make a "
             f"private environment in {VENV.name}/. On Debian/Ubuntu install it with "
             f"`sudo apt install python3-venv` (or python{minor}-venv), then run this again.")


def ensure_env() -> Path:
    """The private environment's python, made (or repaired) if needed; quick when it is ready."""
    python = venv_python()
    if python.exists() and STAMP.exists() and STAMP.read_text(encoding="utf-8") == stamp_text():
        return python
    check_can_create()
    if VENV.exists():  # half made (interrupted), or for another Python or other requirements
        shutil.rmtree(VENV)
    print(f"dev.py: making a private environment in {VENV.name}/ with {sys.executable} "
          f"(once; later runs reuse it)", file=sys.stderr, flush=True)
    import venv

    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    except (OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(VENV, ignore_errors=True)
        fail(f"could not make {VENV.name}/: {exc}. On Debian/Ubuntu `sudo apt install python3-venv` "
             "provides what venv needs.")
    install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *REQUIREMENTS]
    if subprocess.run(install, check=False).returncode != 0:
        shutil.rmtree(VENV, ignore_errors=True)
        fail(f"could not install {' '.join(REQUIREMENTS)} into {VENV.name}/ (see pip's message above)")
    STAMP.write_text(stamp_text(), encoding="utf-8")  # last: its presence means "ready"
    return python


def main(argv: list[str]) -> int:
    if sys.version_info < MIN_PYTHON:
        fail(f"okru needs Python {'.'.join(map(str, MIN_PYTHON))} or newer, this is {sys.version.split()[0]}")
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    python = ensure_env()
    if not argv:
        command = [str(python), "-m", "nox", "--list"]
    else:
        session, *rest = argv
        if session.startswith("-"):
            fail(f"expected a session name first, got {session!r}: `python3 dev.py` lists them")
        command = [str(python), "-m", "nox", "-r", "-s", session]
        if rest:
            command += ["--", *rest]
    os.chdir(ROOT)
    try:
        return subprocess.run(command, check=False).returncode
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
