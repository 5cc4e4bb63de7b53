"""``python -m okru`` and the ``okru`` console script."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``okru`` command with ``argv`` (default: ``sys.argv[1:]``); the exit code."""
    from ._cli import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
