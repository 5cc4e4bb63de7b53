"""The API proxy: everything about turning ``api.users.getInfo(...)`` into a call lives here.

:class:`API` builds the dotted method name from attribute access, checks it, merges positional
dict and keyword parameters, and hands them to ``session.call``; it does no I/O and knows no
adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, Protocol, TypeVar

from .._errors import UsageError
from .._wire.rest import check_method_name

__all__ = ["API", "CallsOK"]

#: What one call returns: ``Any`` (the JSON result) on a blocking session, an awaitable of it on
#: an async one; so a forgotten ``await`` is a type error, not a run-time surprise.
R_co = TypeVar("R_co", covariant=True)


class CallsOK(Protocol[R_co]):
    """A session :class:`API` can call: every adapter's sessions are one."""

    def call(self, method: str, params: Mapping[str, object] | None = None) -> R_co: ...


class API(Generic[R_co]):
    """``api.users.getCurrentUser()``, ``api.group.getInfo(uids=[...])``, ``api("users.getInfo", uids="1")``.

    One class for every adapter: it calls ``session.call(method, params)``, which returns the
    result (sync sessions) or an awaitable (async sessions). ``API`` is generic over that return
    type, so a type checker knows ``api.users.getCurrentUser()`` on an async session must be
    awaited (``mypy --strict`` rejects ``me = api.users.getCurrentUser(); me["name"]`` there). Parameters whose names are not
    Python identifiers go in a positional dict: ``api.x.y({"fr.name": 1})``.
    """

    # The instance ``__dict__`` caches children: ``api.users`` is looked up there after the first
    # time, so ``api.users.getInfo(...)`` in a loop builds no objects and skips __getattr__
    # (2.5 -> 0.8 µs per call). Capped: names may come from data (``getattr(api, name)``).
    __slots__ = ("__dict__", "_method", "_session")

    def __init__(self, session: CallsOK[R_co], _method: str = "") -> None:
        self._session = session
        self._method = _method

    def __getattr__(self, name: str) -> API[R_co]:
        if name.startswith("_"):
            raise AttributeError(name)
        child = API(self._session, f"{self._method}.{name}" if self._method else name)
        children = self.__dict__
        if len(children) < 256:
            children[name] = child
        return child

    def __call__(self, *args: Any, **params: Any) -> R_co:
        method = self._method
        if not method:
            if not args or not isinstance(args[0], str):
                raise UsageError('call a method by name: api("group.method", key=value)')
            method, args = args[0], args[1:]
        if args:
            if len(args) > 1 or not isinstance(args[0], Mapping):
                raise UsageError(f"{method}: pass parameters as keywords or one dict")
            params = {**args[0], **params}
        return self._session.call(check_method_name(method), params)

    def __repr__(self) -> str:
        return f"API({self._method or '<root>'!r})"
