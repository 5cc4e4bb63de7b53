"""Sync/async twins stay twins: each async method, with ``async``/``await`` taken out and the
async spellings of the same things renamed (``aclose`` -> ``close``, ``run_async`` ->
``run_sync``...), is the blocking method line for line.

Names and signatures alone (what the adapters' surface tests compare) let two bodies drift
apart; this compares the code. A method that must differ says why in :data:`DIFFERENT`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

#: An async spelling -> its blocking twin.
RENAMES = {
    "aclose": "close", "__aenter__": "__enter__", "__aexit__": "__exit__", "run_async": "run_sync",
    "AsyncIterator": "Iterator", "aiter_bytes": "iter_bytes", "aiter_raw": "iter_raw", "aiter_body": "iter_body",
    "source_size_async": "source_size", "AsyncSessionBase": "SyncSessionBase", "AsyncBotBase": "SyncBotBase",
    "_B": "_SB", "_S": "_SS",
}

#: (module, async class, blocking class): the pairs under test.
PAIRS = [
    ("okru_proto/adapter/_sessions.py", "AsyncSessionBase", "SyncSessionBase"),
    ("okru_proto/bots/_sessions.py", "AsyncBotBase", "SyncBotBase"),
    ("okru_httpx/_sessions.py", "HttpxSession", "SyncHttpxSession"),
    ("okru_httpx/_sessions.py", "BotSession", "SyncBotSession"),
]

#: (class, method) -> why its twins differ in more than await.
DIFFERENT = {
    ("SyncSessionBase", "_items"): "an async generator cannot 'yield from': it loops over the page",
    ("SyncBotBase", "chats"): "an async generator cannot 'yield from': it loops over the page",
    ("SyncBotBase", "history"): "an async generator cannot 'yield from': it loops over the page",
    ("SyncSessionBase", "upload_video"): "a blocking session refuses an async progress callback up front",
    ("HttpxSession", "_init_transport"): "the lock: anyio's for a loop, threading's for threads",
    ("HttpxSession", "_send"): "a client of yours is bounded by a cancel scope (no such thing in a thread), "
                               "and an interrupted async reply is closed in a shielded scope",
    ("HttpxSession", "close"): "aiookru's name for aclose on the async side",
    ("BotSession", "close"): "the other sessions' name for aclose on the async side",
    ("SyncBotBase", "run_polling"): "the blocking loop stops on a threading.Event or Ctrl-C; the async one on "
                                    "cancellation, and bounds each handler with the adapter's cancel scope "
                                    "(a blocking call cannot be cancelled)",
    ("BotSession", "_handler_scope"): "run_polling's per-handler cancel scope: nothing to cancel in a thread",
}


class _Blocking(ast.NodeTransformer):
    """An async function's tree as its blocking twin would read."""

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        self.generic_visit(node)
        return ast.copy_location(ast.FunctionDef(**{f: getattr(node, f) for f in node._fields}), node)

    def visit_Await(self, node: ast.Await) -> ast.AST:
        return self.visit(node.value)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> ast.AST:
        self.generic_visit(node)
        return ast.copy_location(ast.For(**{f: getattr(node, f) for f in node._fields}), node)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> ast.AST:
        self.generic_visit(node)
        return ast.copy_location(ast.With(**{f: getattr(node, f) for f in node._fields}), node)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = RENAMES.get(node.id, node.id)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        node.attr = RENAMES.get(node.attr, node.attr)
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, str):  # annotations as strings, docstrings: not code
            return ast.copy_location(ast.Constant(""), node)
        return node


def _methods(path: str, name: str, blocking: bool) -> dict[str, str]:
    tree = ast.parse((SRC / path).read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
    found = {}
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node = _Blocking().visit(node) if not blocking else _strip(node)
            node.returns = None  # Iterator vs AsyncIterator is the point of a twin
            node.name = RENAMES.get(node.name, node.name)
            found[node.name] = ast.dump(node, include_attributes=False)
    return found


def _strip(node: ast.AST) -> ast.AST:
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            child.value = ""
    return node


@pytest.mark.parametrize(("path", "async_name", "sync_name"), PAIRS, ids=[p[1] for p in PAIRS])
def test_the_async_class_is_its_blocking_twin_with_await(path: str, async_name: str, sync_name: str) -> None:
    asyncs, syncs = _methods(path, async_name, False), _methods(path, sync_name, True)
    drift = []
    for method in sorted(asyncs.keys() & syncs.keys()):
        if asyncs[method] != syncs[method] and (async_name, method) not in DIFFERENT \
                and (sync_name, method) not in DIFFERENT:
            drift.append(method)
    assert not drift, f"{async_name} and {sync_name} differ in more than await: {drift}"
    only = {m for m in (asyncs.keys() ^ syncs.keys()) - {"close"} if (async_name, m) not in DIFFERENT}
    assert not only, f"methods without a twin: {sorted(only)}"


def test_the_allowed_differences_are_real() -> None:
    # An entry whose twins became identical must go, so the list only shrinks.
    for (cls, method), _why in DIFFERENT.items():
        pair = next(p for p in PAIRS if cls in p[1:])
        asyncs, syncs = _methods(pair[0], pair[1], False), _methods(pair[0], pair[2], True)
        if method in asyncs and method in syncs:
            assert asyncs[method] != syncs[method], f"{cls}.{method} is a true twin now: drop it from DIFFERENT"


def test_the_comparison_sees_a_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "m.py").write_text(
        "class A:\n    async def f(self, x):\n        return await self.g(x + 1)\n"
        "class S:\n    def f(self, x):\n        return self.g(x + 2)\n", encoding="utf-8")
    monkeypatch.setitem(globals(), "SRC", tmp_path)
    assert _methods("m.py", "A", False)["f"] != _methods("m.py", "S", True)["f"]
    (tmp_path / "m.py").write_text(
        "class A:\n    async def f(self, x):\n        return await self.g(x + 1)\n"
        "class S:\n    def f(self, x):\n        return self.g(x + 1)\n", encoding="utf-8")
    assert _methods("m.py", "A", False)["f"] == _methods("m.py", "S", True)["f"]
