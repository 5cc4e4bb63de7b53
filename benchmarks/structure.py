"""The shape of a package, measured from its source: modules, import edges and layers.

    python benchmarks/structure.py [PACKAGE ...]     # default: okru_proto (its testing/ emulator left out)

Nothing is imported: every ``*.py`` is parsed with :mod:`ast`. An edge is an import (at any depth,
``if TYPE_CHECKING:`` blocks left out) from one module of the package to another; ``from pkg
import name`` counts as an edge to ``pkg.name`` when that is a module, else to ``pkg``. Layers are
the longest chain of imports plus one (a module importing nothing of the package is layer 1), so a
cycle would make the count meaningless and is reported instead.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def graph(package: str, exclude: tuple[str, ...] = ()) -> dict[str, set[str]]:
    root = SRC / package
    paths = {_name(p): p for p in sorted(root.rglob("*.py"))
             if not any(_name(p).startswith(f"{package}.{e}") for e in exclude)}
    edges: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        is_package = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text("utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = name.split(".") if is_package else name.split(".")[:-1]
                if node.level > 1:
                    base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base) if node.level else (node.module or "")
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in paths else module for a in node.names]
            edges[name] |= {t for t in targets if t in paths and t != name}
    return edges


def layers(edges: dict[str, set[str]]) -> int:
    @cache
    def depth(name: str, trail: frozenset[str] = frozenset()) -> int:
        if name in trail:
            raise ValueError(f"import cycle through {name}")
        return 1 + max((depth(t, trail | {name}) for t in edges[name]), default=0)

    return max(depth(n) for n in edges)


def main(argv: list[str]) -> None:
    for package in argv or ["okru_proto"]:
        edges = graph(package, exclude=("testing",) if package == "okru_proto" else ())
        try:
            depth = str(layers(edges))
        except ValueError as exc:
            depth = f"n/a ({exc})"
        print(f"{package}: {len(edges)} modules, {depth} layers, {sum(map(len, edges.values()))} import edges")


if __name__ == "__main__":
    main(sys.argv[1:])
