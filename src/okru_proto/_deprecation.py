"""Names that left a namespace: the one place that resolves an old spelling, with a warning.

A public name keeps working from its old import path for one release (okru 0.2 -> 0.3) and
warns, naming its new home. The namespaces (``okru_proto``, ``okru_proto.adapter``,
``okru_proto.bots``) call :func:`moved` from their module ``__getattr__``; the new home is
imported by name only then, so the old namespace does not depend on it (the ASGI app and the
adapters' file reading live in packages of their own, ``okru_asgi`` and ``okru_io``).
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable

__all__ = ["moved", "relocated"]


def moved(old: str, name: str, new: str) -> object:
    """``new``'s ``name``, after a :class:`DeprecationWarning` that ``old.name`` moved there."""
    caller = sys._getframe(2).f_code
    # ``from old import x`` looks ``x`` up twice when ``old`` is a package: importlib's
    # _handle_fromlist probes it with hasattr, then the import statement reads it. Only the
    # statement's own lookup warns, so one use gives one warning.
    if caller.co_name != "_handle_fromlist" or "importlib" not in caller.co_filename:
        warnings.warn(f"{old}.{name} moved to {new}.{name}; the old name will be removed in okru 0.3",
                      DeprecationWarning, stacklevel=3)
    return getattr(importlib.import_module(new), name)


def relocated(old: str, elsewhere: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for namespace ``old`` whose names in ``elsewhere`` (name -> new
    home) left it: each resolves there with :func:`moved`'s warning; anything else is the usual
    AttributeError."""

    def __getattr__(name: str) -> object:
        new = elsewhere.get(name)
        if new is None:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        return moved(old, name, new)

    return __getattr__
