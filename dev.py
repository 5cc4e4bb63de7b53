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

Any Python 3 may start it: this file keeps to syntax every Python 3 reads (no f-strings, no
annotations), and when the Python running it is older than okru needs (3.10) it looks for a newer
one on PATH (``python3.14`` ... ``python3.10``, or ``py -3.N`` on Windows) and hands over to it.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv-dev"
#: What goes into the private environment; the stamp file records it, so changing it reinstalls.
REQUIREMENTS = ("nox>=2024.3",)
STAMP = VENV / "okru-dev-stamp.txt"
MIN_PYTHON = (3, 10)
#: Newest first: the interpreters looked for on PATH when this one is too old.
CANDIDATE_MINORS = tuple(range(14, MIN_PYTHON[1] - 1, -1))
#: Set when dev.py hands over to another Python, so that one never hands over again.
HANDOVER_ENV = "OKRU_DEV_HANDED_OVER"


def fail(message):
    sys.stderr.write("dev.py: error: %s\n" % message)
    raise SystemExit(2)


def version_text(info):
    return ".".join(str(part) for part in info)


def venv_python():
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def stamp_text():
    return "\n".join([sys.version.split()[0], sys.executable] + list(REQUIREMENTS)) + "\n"


def candidate_commands(which=shutil.which):
    """The commands that may start a newer Python, newest first (only those that exist)."""
    found = []
    for minor in CANDIDATE_MINORS:
        path = which("python3.%d" % minor)
        if path:
            found.append([path])
    launcher = which("py") if os.name == "nt" else None
    if launcher:
        found += [[launcher, "-3.%d" % minor] for minor in CANDIDATE_MINORS]
    return found


def probe(command):
    """``(major, minor)`` of the Python ``command`` starts, or None if it does not start (a pyenv
    shim for a version that is not selected exits non-zero, for example)."""
    try:
        child = subprocess.Popen(command + ["-c", "import sys; print('%d %d' % sys.version_info[:2])"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return None
    try:
        out = child.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        return None
    parts = out.split()
    if child.returncode != 0 or len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def newer_python(commands, probe=probe):
    """The first of ``commands`` that starts a Python of at least MIN_PYTHON, or None."""
    for command in commands:
        version = probe(command)
        if version is not None and version >= MIN_PYTHON:
            return command
    return None


def hand_over(argv):
    """Run this script under a newer Python (this one is too old for okru): its exit code."""
    here = version_text(sys.version_info[:3])
    need = version_text(MIN_PYTHON)
    command = None if os.environ.get(HANDOVER_ENV) else newer_python(candidate_commands())
    if command is None:
        fail("okru needs Python %s or newer, this is %s (%s), and none was found on PATH "
             "(python3.%d ... python3.%d). Install one (Debian/Ubuntu: `sudo apt install python3`, "
             "on a release that ships 3.10+; or from python.org), then run this again."
             % (need, here, sys.executable, CANDIDATE_MINORS[0], CANDIDATE_MINORS[-1]))
    sys.stderr.write("dev.py: this is Python %s; okru needs %s or newer: using %s\n"
                     % (here, need, " ".join(command)))
    sys.stderr.flush()
    env = dict(os.environ)
    env[HANDOVER_ENV] = "1"
    try:
        return subprocess.call(command + [str(Path(__file__).resolve())] + list(argv), env=env)
    except KeyboardInterrupt:
        return 130


def check_can_create():
    missing = [name for name in ("venv", "ensurepip") if importlib.util.find_spec(name) is None]
    if missing:
        minor = "%d.%d" % sys.version_info[:2]
        fail("this Python (%s) has no %s module, needed to make a private environment in %s/. "
             "On Debian/Ubuntu install it with `sudo apt install python3-venv` (or python%s-venv), "
             "then run this again." % (sys.executable, " and no ".join(missing), VENV.name, minor))


def ensure_env():
    """The private environment's python, made (or repaired) if needed; quick when it is ready."""
    python = venv_python()
    if python.exists() and STAMP.exists() and STAMP.read_text(encoding="utf-8") == stamp_text():
        return python
    check_can_create()
    if VENV.exists():  # half made (interrupted), or for another Python or other requirements
        shutil.rmtree(str(VENV))
    sys.stderr.write("dev.py: making a private environment in %s/ with %s (once; later runs reuse it)\n"
                     % (VENV.name, sys.executable))
    sys.stderr.flush()
    import venv

    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(str(VENV))
    except (OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(str(VENV), ignore_errors=True)
        fail("could not make %s/: %s. On Debian/Ubuntu `sudo apt install python3-venv` provides what "
             "venv needs." % (VENV.name, exc))
    install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if subprocess.call(install + list(REQUIREMENTS)) != 0:
        shutil.rmtree(str(VENV), ignore_errors=True)
        fail("could not install %s into %s/ (see pip's message above)" % (" ".join(REQUIREMENTS), VENV.name))
    STAMP.write_text(stamp_text(), encoding="utf-8")  # last: its presence means "ready"
    return python


def main(argv):
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if sys.version_info < MIN_PYTHON:
        return hand_over(argv)
    python = ensure_env()
    if not argv:
        command = [str(python), "-m", "nox", "--list"]
    else:
        session, rest = argv[0], argv[1:]
        if session.startswith("-"):
            fail("expected a session name first, got %r: `python3 dev.py` lists them" % session)
        command = [str(python), "-m", "nox", "-r", "-s", session]
        if rest:
            command += ["--"] + rest
    os.chdir(str(ROOT))
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
