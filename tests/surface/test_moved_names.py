"""Users lose nothing (issue 19 item 6): every name a public module listed before the reshape still
resolves from that module; the ones that left it warn (a DeprecationWarning), and the ones that
left okru_proto for a package of their own (okru_asgi, okru_io) name their new home and are the
very same objects. okru_proto's moves between its own namespaces are checked, without the
adapters installed, in tests/core/test_public_surface.py.
"""

from __future__ import annotations

import importlib
import json
import re
import warnings
from pathlib import Path

import pytest

#: module -> its ``__all__`` before the reshape (commit 0ee7f24^), frozen.
BEFORE: dict[str, list[str]] = {
    module: names
    for module, names in json.loads(Path(__file__).with_name("names_before_reshape.json").read_text("utf-8")).items()
    if not module.startswith("_")
}


def test_the_snapshot_holds_every_public_module_of_every_package() -> None:
    assert {module.split(".")[0] for module in BEFORE} == {
        "okru", "okru_httpx", "okru_proto", "okru_pytest", "okru_stores", "okru_trio"}
    assert sum(map(len, BEFORE.values())) == 326  # frozen: the snapshot is never edited


@pytest.mark.parametrize("module_name", sorted(BEFORE))
def test_every_name_listed_before_the_reshape_still_resolves_there(module_name: str) -> None:
    module = importlib.import_module(module_name)
    still_listed = set(getattr(module, "__all__", ()))
    for name in BEFORE[module_name]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = getattr(module, name)
        assert value is not None, f"{module_name}.{name}"
        deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
        if name in still_listed:
            assert deprecations == [], f"{module_name}.{name} is listed yet warns"
        else:  # it left: the old spelling works for one release and says so
            assert len(deprecations) == 1, f"{module_name}.{name} left without a DeprecationWarning"
            assert f"{module_name}.{name}" in str(deprecations[0].message)


@pytest.mark.parametrize(("old", "name", "new"), [
    ("okru_proto", "webhook_app", "okru_asgi"),
    ("okru_proto.bots", "webhook_app", "okru_asgi"),
    ("okru_proto.bots", "WebhookApp", "okru_asgi"),
    ("okru_proto.adapter", "source_size", "okru_io"),
    ("okru_proto.adapter", "SourceReader", "okru_io"),
    ("okru_proto.adapter", "describe_source", "okru_io"),
])
def test_names_that_left_for_another_package_still_resolve_and_warn(old: str, name: str, new: str) -> None:
    with pytest.warns(DeprecationWarning, match=rf"^{re.escape(old)}\.{name} moved to {new}\.{name};") as caught:
        value = getattr(importlib.import_module(old), name)
    assert value is getattr(importlib.import_module(new), name)
    assert len(caught) == 1 and caught[0].filename == __file__  # the warning points at the caller
    with pytest.warns(DeprecationWarning):
        exec(f"from {old} import {name}", {})  # the import statement warns once too
