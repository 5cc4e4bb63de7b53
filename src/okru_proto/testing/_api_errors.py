"""OK API errors inside the emulator: everything that turns a failed check into OK's error reply.

A method implementation (or a check it calls) raises :class:`ApiFail`; :func:`answer` turns it
into OK's error reply (``api_error``, docs/protocol.md §4) and a plain result into JSON.
"""

from __future__ import annotations

from collections.abc import Callable

from .._values import Response
from ._http import api_error, json_response

__all__ = ["ApiFail", "answer", "permission_denied"]


class ApiFail(Exception):
    """Raised inside a method implementation: answer with OK error ``code``."""

    def __init__(self, code: int, text: str, data: object = None) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.data = data

    def response(self) -> Response:
        return api_error(self.code, self.text, self.data)


def permission_denied(scope: str) -> ApiFail:
    # Real text and error_data from docs/protocol.md §4 (MISC id 18340393522).
    return ApiFail(10, f"User must grant an access to permission '{scope}'", scope.lower())


def answer(func: Callable[[], object]) -> Response:
    """Run a method: its result as JSON (a ``Response`` as is), an :class:`ApiFail` as OK's error."""
    try:
        result = func()
    except ApiFail as fail:
        return fail.response()
    if isinstance(result, Response):
        return result
    return json_response(result)
