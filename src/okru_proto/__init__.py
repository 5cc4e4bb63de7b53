"""okru_proto: the sans-I/O core of okru, the OK.ru (Odnoklassniki) API client.

Pure protocol: it builds requests, reads responses and returns typed results or raises typed
errors. No sockets, no clock, no event loop; standard library only.

Four namespaces (docs/embedding.md), each for one kind of reader:

* ``okru_proto`` (this module): what applications use: :class:`Token`, :class:`Secret`,
  :class:`Endpoints`, :class:`RetryPolicy`, :func:`sign`, :func:`authorize_url` and
  :func:`parse_callback` (a web app's own code grant), :class:`Page` (what ``pages()`` yields),
  the photo and video upload values, token stores (and their JSON form, for your own store), and
  the base classes of the error tree, and a bot's way in, :func:`parse_webhook` (the ASGI
  app that receives webhooks is :func:`okru_asgi.webhook_app`);
* :mod:`okru_proto.errors`: every error class (leaves included) and OK.ru's error-code table;
* :mod:`okru_proto.bots`: the Bot API and webhook vocabulary, for applications writing a bot;
* :mod:`okru_proto.adapter`: the sans-I/O machinery, for adapter authors (sessions' specs and
  bases, flows and effects, every wire step).

Every name here is loaded on first use (PEP 562 ``__getattr__``): ``import okru_proto`` loads no
submodule, so a command line or a serverless function pays only for what it touches.

The names that lived here before okru 0.2 and moved to a namespace still resolve, with a
:class:`DeprecationWarning` naming the new home; the type checker does not see them, so mypy
already reports the old spelling. They go in okru 0.3.
"""

from __future__ import annotations

import importlib

#: The version of okru (all six packages), and the one pyproject.toml reads ([tool.hatch.version]).
__version__ = "0.2.0"

# Not typing.TYPE_CHECKING: importing typing alone would cost more than this whole module
# (mypy treats any constant of this name as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._errors import (
        APIError,
        Error,
        HTTPStatusError,
        OAuthError,
        ProtocolError,
        ReloginRequiredError,
        RetryLaterError,
        SessionExpiredError,
        TransportError,
        TransportTimeout,
        UsageError,
    )
    from ._flow import RetryPolicy
    from ._paging import Page
    from ._photos import Photo, PhotoSource, UploadedPhoto, UploadError, photo_media
    from ._store import StoredToken, StoreError, TokenStore, token_from_json, token_to_json
    from ._values import Endpoints, Secret, Token
    from ._video import ResumeState, UploadedVideo, VideoSource, video_media
    from ._wire.oauth import authorize_url, parse_callback
    from ._wire.sign import sign
    from .bots._webhook import parse_webhook

#: Each public name's private submodule (the same as the imports above, for the lazy loader).
_SUBMODULES: dict[str, tuple[str, ...]] = {
    "_errors": (
        "APIError", "Error", "HTTPStatusError", "OAuthError", "ProtocolError",
        "ReloginRequiredError", "RetryLaterError", "SessionExpiredError", "TransportError",
        "TransportTimeout", "UsageError",
    ),
    "_flow": ("RetryPolicy",),
    "_paging": ("Page",),
    "_photos": ("Photo", "PhotoSource", "UploadError", "UploadedPhoto", "photo_media"),
    "_store": ("StoreError", "StoredToken", "TokenStore", "token_from_json", "token_to_json"),
    "_values": ("Endpoints", "Secret", "Token"),
    "_video": ("ResumeState", "UploadedVideo", "VideoSource", "video_media"),
    "_wire.oauth": ("authorize_url", "parse_callback"),
    "_wire.sign": ("sign",),
    "bots._webhook": ("parse_webhook",),
}
_WHERE = {name: module for module, names in _SUBMODULES.items() for name in names}

__all__ = [
    "APIError",
    "Endpoints",
    "Error",
    "HTTPStatusError",
    "OAuthError",
    "Page",
    "Photo",
    "PhotoSource",
    "ProtocolError",
    "ReloginRequiredError",
    "ResumeState",
    "RetryLaterError",
    "RetryPolicy",
    "Secret",
    "SessionExpiredError",
    "StoreError",
    "StoredToken",
    "Token",
    "TokenStore",
    "TransportError",
    "TransportTimeout",
    "UploadError",
    "UploadedPhoto",
    "UploadedVideo",
    "UsageError",
    "VideoSource",
    "authorize_url",
    "parse_callback",
    "parse_webhook",
    "photo_media",
    "sign",
    "token_from_json",
    "token_to_json",
    "video_media",
]

#: Names that left for another package (okru 0.2): the server-side apps live in okru_asgi.
_ELSEWHERE = {"webhook_app": "okru_asgi", "WebhookApp": "okru_asgi"}
#: Where the names that left the top level went, searched in this order (an error that is also
#: bot vocabulary is announced under ``errors``, the home of every error class).
_NAMESPACES = ("errors", "bots", "adapter")
#: Names the namespaces gained after the move: they were never top-level, so they get no alias.
_NEVER_TOP_LEVEL = frozenset({
    "ACCEPT_ENCODING", "BodyDecoder", "DECODED_CODINGS", "Inflater", "MAX_CODINGS", "decode_body",
    "SourceReader", "describe_source", "source_size", "PhotoFile", "multipart_body",
    "DEFAULT_CONNECT_TIMEOUT", "DEFAULT_MAX_RESPONSE_BYTES", "DEFAULT_READ_TIMEOUT",
    "DEFAULT_TIMEOUT", "GrantContext", "SESSION_CLASSES", "check_base_url", "circuit_for_signing",
    "retrying", "session_for", "trusted_response",
    "Claim", "OnceStore", "ValueStore",  # the stores beyond tokens (okru_stores, STORE_API)
    "Measure", "SourceFingerprint", "SourceQuery", "sample_ranges", "upload_byte_budget",  # issue 20
    "ChatsPager",  # issue 19: the chats marker walk as a flow, beside HistoryPager
    "LaunchError", "PaymentError",  # a game's server side (okru_proto.apps, issue 22)
    # bots (issue 23): long polling, chat actions, the router
    "ACTIONS", "ANY_STATE", "DEFAULT_POLL_TIMEOUT", "EVENT_TYPES", "UPLOAD_ENCODINGS", "Router", "State",
    "SyncState", "Updates", "parse_updates",
})
_moved: dict[str, str] = {}


def _moved_names() -> dict[str, str]:
    """Each former top-level name -> its namespace, derived from the namespaces' ``__all__``
    (loaded on the first old-style lookup only)."""
    if not _moved:
        table: dict[str, str] = {}
        for namespace in reversed(_NAMESPACES):
            names = importlib.import_module(f".{namespace}", __name__).__all__
            table.update(dict.fromkeys(set(names) - _NEVER_TOP_LEVEL - set(__all__), namespace))
        _moved.update(table)  # whole, at once: a concurrent first lookup never sees half of it
    return _moved


# Hidden from the type checker (see TYPE_CHECKING above): mypy then reports a moved name's old
# spelling instead of typing it as Any.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        module = _WHERE.get(name)
        if module is not None:
            value = getattr(importlib.import_module(f".{module}", __name__), name)
            globals()[name] = value  # later lookups skip this function
            return value
        if name in _ELSEWHERE:
            from ._deprecation import moved

            return moved(__name__, name, _ELSEWHERE[name])
        namespace = None if name.startswith("__") else _moved_names().get(name)
        if namespace is None:
            raise AttributeError(f"module 'okru_proto' has no attribute {name!r}")
        from ._deprecation import moved

        # Not cached in globals(): every access warns, at the caller's line.
        return moved(__name__, name, f"okru_proto.{namespace}")

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
