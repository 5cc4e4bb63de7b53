"""docs/errors.md's code table is generated from okru_proto.errors.ERROR_CODES and must stay in step."""

from __future__ import annotations

import runpy
from pathlib import Path

from okru_proto.errors import ERROR_CODES

GEN = Path(__file__).resolve().parents[2] / "docs" / "gen_errors.py"


def test_the_error_table_is_up_to_date() -> None:
    gen = runpy.run_path(str(GEN))
    text = gen["ERRORS_MD"].read_text(encoding="utf-8")
    assert gen["updated"](text) == text, "docs/errors.md is out of date: run python docs/gen_errors.py"


def test_the_table_has_every_code() -> None:
    table = runpy.run_path(str(GEN))["render"]()
    for code, known in ERROR_CODES.items():
        assert f"| {code} | `{known.symbol}` |" in table
