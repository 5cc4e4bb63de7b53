"""The shape of ``src/``: no import cycle between our modules.

Cycles: every ``*.py`` under ``src/`` is parsed with :mod:`ast` (nothing is imported), and each
``import``/``from ... import`` that names one of our modules is an edge, at module level or
inside a function or class body alike: an import moved into a function to dodge a cycle still
makes one. Only imports under ``if TYPE_CHECKING:`` are left out (they never run). ``from pkg
import name`` is an edge to ``pkg.name`` when that is a module of ours, else to ``pkg`` itself.

Size is not checked: a module is split by concept, never by length (a long file that owns one
thing reads better than two that share it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

#: Import cycles known on the day this test was written, outside the emulator, each as the
#: sorted tuple of the modules of one strongly connected component. Being split in issue 12.
CYCLES_ALLOWED: dict[tuple[str, ...], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _imports(tree: ast.AST, typing_too: bool = False) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement in the tree, at any depth, except under ``if TYPE_CHECKING:``
    (unless ``typing_too``)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if not typing_too and isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _resolve(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    if node.level:
        # The package a relative import starts from: the module itself for an __init__.
        base = module.split(".") if is_package else module.split(".")[:-1]
        if node.level > 1:
            base = base[: -(node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    out: set[str] = set()
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        if sub in known:
            out.add(sub)
        elif target in known:
            out.add(target)
    return out


def import_graph(typing_too: bool = False) -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for node in _imports(tree, typing_too):
            edges |= _resolve(name, path.name == "__init__.py", node, known)
        edges.discard(name)
        graph[name] = edges
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the components with more than one module (each one is a cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return components


def one_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """The shortest path ``a -> b -> ... -> a`` inside a strongly connected component."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if w not in previous:
                    previous[w] = v
                    following.append(w)
        frontier = following
    raise AssertionError(f"{component} is not strongly connected")


# -- the checks ------------------------------------------------------------------------------------

def test_no_import_cycle_under_src() -> None:
    graph = import_graph()
    cycles = [c for c in strongly_connected(graph) if tuple(c) not in CYCLES_ALLOWED]
    report = ["  " + " -> ".join(one_cycle(graph, c)) + f"   (component: {', '.join(c)})" for c in cycles]
    assert not cycles, "import cycles under src/:\n" + "\n".join(report)


def test_allowed_cycles_still_exist() -> None:
    # An allow-list entry whose cycle is gone must go too, so the list only shrinks.
    components = {tuple(c) for c in strongly_connected(import_graph())}
    assert set(CYCLES_ALLOWED) <= components, set(CYCLES_ALLOWED) - components


# -- the checker checks itself on small trees ------------------------------------------------------

def _graph_of(tmp_path: Path, files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    for rel, text in files.items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    monkeypatch.setitem(globals(), "SRC", tmp_path)
    return import_graph()


def test_a_function_level_import_makes_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graph = _graph_of(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from .b import thing\n",
        "pkg/b.py": "def thing():\n    from . import a\n    return a\n",
    }, monkeypatch)
    [component] = strongly_connected(graph)
    assert component == ["pkg.a", "pkg.b"]
    assert one_cycle(graph, component) == ["pkg.a", "pkg.b", "pkg.a"]


def test_type_checking_imports_do_not_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graph = _graph_of(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from .b import thing\n",
        "pkg/b.py": (
            "import typing\nfrom typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from .a import x\n"
            "if typing.TYPE_CHECKING:\n    import pkg.a\n"
            "thing = 1\n"
        ),
    }, monkeypatch)
    assert graph["pkg.b"] == set()
    assert strongly_connected(graph) == []


def test_relative_and_absolute_imports_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graph = _graph_of(tmp_path, {
        "pkg/__init__.py": "from .sub import c\n",
        "pkg/a.py": "import pkg.sub.c\nfrom .. import other\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/c.py": "from .. import a, VERSION\nfrom ..a import f\n",
    }, monkeypatch)
    assert graph["pkg"] == {"pkg.sub.c"}
    assert graph["pkg.a"] == {"pkg.sub.c"}
    assert graph["pkg.sub.c"] == {"pkg.a", "pkg"}
    assert [set(c) for c in strongly_connected(graph)] == [{"pkg", "pkg.a", "pkg.sub.c"}]


def test_typing_only_imports_make_no_cycle_either() -> None:
    # A cycle through ``if TYPE_CHECKING:`` imports runs fine but still ties two modules into one
    # owner; the module that needs the other's type declares a Protocol of what it uses instead
    # (GrantContext, StoreContext).
    assert strongly_connected(import_graph(typing_too=True)) == []
