"""okru_proto.adapter: the adapter authors' namespace, and adapters use only public core names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import okru_proto.adapter as adapter
from okru_proto import UsageError
from okru_proto.adapter import Response

SRC = Path(__file__).resolve().parents[3] / "src"


def test_every_name_resolves() -> None:
    for name in adapter.__all__:
        assert getattr(adapter, name) is not None, name


def test_trusted_response_equals_the_validated_one() -> None:
    headers = (("content-type", "application/json"), ("x-a", "1"))
    trusted = adapter.trusted_response(200, headers, b"{}")
    assert type(trusted) is Response
    assert trusted == Response(200, headers, b"{}")
    assert trusted.header("Content-Type") == "application/json"
    with pytest.raises(AttributeError):
        trusted.status = 500  # type: ignore[misc]


def test_check_base_url_is_the_core_rule() -> None:
    assert adapter.check_base_url("https://api.ok.ru", "u") == "https://api.ok.ru"
    with pytest.raises(UsageError, match="user name or password"):
        adapter.check_base_url("https://u:p@api.ok.ru", "u")
    with pytest.raises(UsageError):
        adapter.check_base_url("http://api.ok.ru", "u")


@pytest.mark.parametrize("package", ["okru_httpx", "okru_trio", "okru"])
def test_adapters_import_no_private_core_module(package: str) -> None:
    offenders = []
    for path in sorted((SRC / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("okru_proto._"):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: from {node.module}")
    assert not offenders, offenders


def test_import_okru_proto_does_not_load_the_adapter_namespace() -> None:
    # The namespace is opt-in: application start-up pays nothing for it.
    import subprocess
    import sys

    code = "import sys, okru_proto; print('okru_proto.adapter' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
