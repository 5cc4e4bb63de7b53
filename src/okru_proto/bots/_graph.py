"""The Graph API's wire rules (docs/protocol.md §11): requests, replies, errors.

How a call to ``https://api.ok.ru/graph/...`` looks: paths, the group token as the
``access_token`` query parameter (also on POST: every OK example sends it in the URL), JSON bodies
sent as ``application/json;charset=utf-8`` (OK requires that header on every Graph POST), and how
a reply or an error is read. The flows built on these are :mod:`._flows`'.

Where OK publishes nothing, the choice is made here once and listed in docs/bots.md: errors are
recognised by an ``error_code`` field whatever the HTTP status; the edit path is
``<message_id>/edit``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from .._errors import (
    APIError,
    HTTPStatusError,
    ProtocolError,
    ReloginRequiredError,
    UsageError,
    api_error_from_payload,
)
from .._values import Endpoints, Request, Response, Secret, reveal
from .._wire.rest import _scrub, describe_body, form_encode, parse_json_body

__all__ = [
    "EDIT_PATH",
    "FILE_TYPES",
    "GRAPH_CONTENT_TYPE",
    "UPLOAD_SETTLE_SECONDS",
    "BotTokenError",
    "ChatNotFoundError",
    "graph_error",
    "parse_graph_response",
    "prepare_graph",
]

#: "POST-запросы должны выполняться с заголовком Content-Type: application/json;charset=utf-8".
GRAPH_CONTENT_TYPE = "application/json;charset=utf-8"
_JSON_HEADERS = (("content-type", GRAPH_CONTENT_TYPE),)
#: ``type`` values of ``GET me/fileUploadUrl`` (default FILE).
FILE_TYPES = ("FILE", "VIDEO", "AUDIO", "IMAGE")
#: okru's choice, OK publishes no path for graph.message.edit (docs/protocol.md §11.8).
EDIT_PATH = "{message_id}/edit"
#: Seconds to wait between an upload and the send that uses it: OK asks for "a small delay"
#: (seconds) while it processes the file, without a number; okru's default.
UPLOAD_SETTLE_SECONDS = 1.0
_TOKEN_CODES = frozenset({102, 103, 401})
#: One encoder for every body (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9:._~-]+").fullmatch


class BotTokenError(ReloginRequiredError):
    """OK refused the group's access token (expired after 30 idle days, or replaced by a newer
    one): get a new one in the group's settings (Управление → Работа с API)."""


class ChatNotFoundError(APIError):
    """705 CHAT_NOT_FOUND: no such chat for this group (a wrong id, or the bot left it)."""


def graph_error(payload: Mapping[str, Any], what: str) -> APIError:
    """The typed error for a Graph error object (OK's "traditional" ``error_code`` format)."""
    error = api_error_from_payload(dict(payload), what)
    if error.code in _TOKEN_CODES:
        return BotTokenError(error.code, error.msg, error.data, method=what)
    if error.code == 705:
        return ChatNotFoundError(error.code, error.msg, error.data, method=what)
    return error


def _segment(value: str, what: str) -> str:
    if type(value) is str and _PLAIN_SEGMENT(value) and value not in (".", ".."):
        return value  # ids are plain ("chat:C3ecb9d02a600"): nothing to quote
    if not isinstance(value, str) or not value or value in (".", "..") or "/" in value:
        raise UsageError(f"{what} must be a non-empty id such as 'chat:C3ecb9d02a600', got {value!r}")
    return quote(value, safe=":")


def _wire(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return str(value)
    raise UsageError(f"a Graph query value must be str, int or bool, got {type(value).__name__}")


def prepare_graph(http_method: str, path: str, *, access_token: Secret | str, endpoints: Endpoints,
                  query: Mapping[str, object] | None = None, body: object = None) -> Request:
    """The :class:`Request` for one Graph call: ``{api}/graph/{path}?{query}&access_token=...``,
    a POST's ``body`` as UTF-8 JSON with OK's content type."""
    return _build(http_method, path, form_encode([("access_token", reveal(access_token))]), endpoints, query, body)


def _build(http_method: str, path: str, token_query: str, endpoints: Endpoints,
           query: Mapping[str, object] | None, body: object) -> Request:
    if query:
        pairs = [(k, _wire(v)) for k, v in query.items() if v is not None]
        if any(k == "access_token" for k, _ in pairs):
            raise UsageError("access_token is set by okru; do not pass it")
        if pairs:
            token_query = f"{form_encode(pairs)}&{token_query}"
    url = f"{endpoints.api}/graph/{path}?{token_query}"
    if http_method == "GET":
        return Request("GET", url)
    if http_method != "POST":
        raise UsageError(f"the Graph API uses GET and POST, not {http_method!r}")
    try:
        data = _ENCODER.encode(body if body is not None else {}).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{path}: the body cannot be sent as JSON ({exc})") from None
    return Request("POST", url, _JSON_HEADERS, data)


def parse_graph_response(response: Response, what: str, secrets: Iterable[Secret | str | None] = ()) -> Any:
    """The JSON a Graph call returned, or its typed error.

    OK does not publish the HTTP status of Graph errors, so an ``error_code`` object is an error
    whatever the status; any other non-2xx is :class:`HTTPStatusError`.
    """
    status = response.status
    body = response.body
    if status == 200 and body[:1] == b"{":
        # The usual reply: one JSON object; anything odd falls through to the careful path.
        try:
            value = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            pass
        else:
            if type(value) is dict and "error_code" not in value:
                return value
    try:
        value = parse_json_body(response, what)
    except ProtocolError:
        if not 200 <= status < 300:
            raise HTTPStatusError(f"{what}: OK.ru answered HTTP {status} ({describe_body(response)})",
                                  method=what, status=status, response=response) from None
        raise
    if type(value) is dict and "error_code" in value:
        if isinstance(value.get("error_msg"), str):
            value = dict(value, error_msg=_scrub(value["error_msg"], secrets))
        raise graph_error(value, what)
    if not 200 <= status < 300:
        raise HTTPStatusError(f"{what}: OK.ru answered HTTP {status} ({describe_body(response)})",
                              method=what, status=status, response=response)
    return value
