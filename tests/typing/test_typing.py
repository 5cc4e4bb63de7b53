"""Run mypy over tests/typing/check_*.py: the mistakes users make are type errors (issue 12 §3).

Each ``# type: ignore[code]`` there marks an expected error. Two checks: mypy --strict with
``warn_unused_ignores`` passes on the files as they are (no other error, no expected error gone),
and with the ignores stripped mypy reports exactly the marked lines with the marked codes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHECKS = sorted(HERE.glob("check_*.py"))
IGNORE = re.compile(r"\s*# type: ignore\[([a-z-]+)\]")


def _mypy(*paths: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--warn-unused-ignores", "--no-error-summary",
         "--show-error-codes", "--no-incremental", "--config-file", str(ROOT / "pyproject.toml"),
         *map(str, paths)],
        capture_output=True, text=True, cwd=cwd, timeout=600,
    )


def test_typing_files_check_clean_with_their_expected_errors() -> None:
    assert CHECKS, "no tests/typing/check_*.py"
    done = _mypy(*CHECKS, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_expected_error_is_reported_where_marked(tmp_path: Path) -> None:
    expected: set[tuple[str, int, str]] = set()
    for check in CHECKS:
        lines = check.read_text(encoding="utf-8").splitlines()
        stripped = []
        for number, line in enumerate(lines, 1):
            match = IGNORE.search(line)
            if match:
                expected.add((check.name, number, match.group(1)))
                line = line[: match.start()]
            stripped.append(line)
        (tmp_path / check.name).write_text("\n".join(stripped) + "\n", encoding="utf-8")
    assert len(expected) >= 6
    done = _mypy(*(tmp_path / c.name for c in CHECKS), cwd=ROOT)
    found = {(Path(m.group(1)).name, int(m.group(2)), m.group(3))
             for m in re.finditer(r"^(.+?):(\d+): error: .*\[([a-z-]+)\]$", done.stdout, re.MULTILINE)}
    assert found == expected, done.stdout
