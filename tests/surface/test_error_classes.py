"""Every error class any okru package defines is listed in okru_proto.errors, under one of the
bases the top level keeps (issue 12 §2): an application catches okru's errors from one place."""

from __future__ import annotations

import importlib
import pkgutil

import okru_proto
import okru_proto.errors
from tests.core.test_public_surface import BASES


def _okru_modules() -> list[str]:
    names = []
    for package in ("okru_proto", "okru_httpx", "okru_trio", "okru_stores", "okru", "okru_pytest"):
        module = importlib.import_module(package)
        names.append(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            names.append(info.name)
    return names


def test_every_error_class_is_in_errors_and_under_a_top_level_base() -> None:
    for name in _okru_modules():
        importlib.import_module(name)
    found, todo = set(), [okru_proto.Error]
    while todo:
        cls = todo.pop()
        if cls.__module__.split(".")[0] in {"okru_proto", "okru_httpx", "okru_trio", "okru_stores", "okru",
                                            "okru_pytest"}:
            found.add(cls)
        todo.extend(cls.__subclasses__())
    listed = {getattr(okru_proto.errors, n) for n in okru_proto.errors.__all__ if n[0].isupper() and n != "ERROR_CODES"}
    assert found <= listed, sorted(c.__name__ for c in found - listed)
    assert len(found) >= 33
    # Catching a base catches the leaf: no leaf hangs directly off Error unless it is a base.
    orphans = [cls.__name__ for cls in found
               if cls not in BASES and not any(issubclass(cls, base) for base in BASES[1:])]
    assert not orphans, orphans
