"""okru_proto: the sans-I/O core of okru, the OK.ru (Odnoklassniki) API client.

Pure protocol: it builds :class:`Request` values, reads :class:`Response` values and returns
typed results or raises typed errors. No sockets, no clock, no event loop; standard library only.

Every public name is loaded on first use (PEP 562 ``__getattr__``): ``import okru_proto`` costs
next to nothing, and ``from okru_proto import prepare_call`` loads only the modules that name
needs, so a command line or a serverless function does not pay for the login-dialog parser
(html.parser, datetime) unless it runs the implicit grant.

It is over 400 lines because it lists each public name twice (for the type checker, and for the
lazy loader); the surface shrinks to what applications use in issue 12 §2.
"""

from __future__ import annotations

import importlib

# Not typing.TYPE_CHECKING: importing typing alone would cost more than this whole module
# (mypy treats any constant of this name as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._api import API
    from ._body import DEFAULT_BLOCK_SIZE, SourceRange, StreamedBody, plan_blocks
    from ._bot_core import BotCore, HistoryPager
    from ._bot_facade import BOT_OPTIONS, AsyncBotBase, BotSessionSpec, SyncBotBase
    from ._bot_types import (
        ATTACHMENT_TYPES,
        MAX_ATTACHMENTS,
        Attachment,
        BotInfo,
        Button,
        Chat,
        ChatMessage,
        ChatsPage,
        DirectSend,
        SentMessage,
        Subscription,
        UploadTarget,
        build_message,
        keyboard,
    )
    from ._circuit import CIRCUITS, Circuit, circuit_for, signing_secret
    from ._dialog import MAX_DIALOG_STEPS, CookieJar, Form, implicit_flow, parse_forms
    from ._error_codes import ERROR_CODES, ErrorCode
    from ._errors import (
        APIError,
        AuthLoginError,
        BadCredentialsError,
        CaptchaRequiredError,
        DialogError,
        Error,
        FloodBlockedError,
        HTTPStatusError,
        HumanCheckRequiredError,
        InvalidSessionError,
        LimitReachedError,
        MethodNotFoundError,
        NotSessionMethodError,
        OAuthError,
        ParamError,
        PermissionDeniedError,
        ProtocolError,
        ReloginRequiredError,
        RetryLaterError,
        ServiceUnavailableError,
        SessionExpiredError,
        SessionRequiredError,
        SignatureError,
        StateMismatchError,
        TransportError,
        TransportTimeout,
        UsageError,
        api_error_from_payload,
    )
    from ._facade import AsyncSessionBase, SyncSessionBase
    from ._flow import (
        Callback,
        Effect,
        Flow,
        RefreshNeeded,
        Sleep,
        StoreCall,  # okru issue 16
        guarded,
        run_async,
        run_sync,
    )
    from ._grants import CodeGrant, Grant, ImplicitGrant, PasswordGrant, RefreshGrant
    from ._graph import (
        FILE_TYPES,
        GRAPH_CONTENT_TYPE,
        BotTokenError,
        ChatNotFoundError,
        parse_graph_response,
        prepare_graph,
    )
    from ._oauth import (
        DEFAULT_IMPLICIT_REDIRECT_URI,
        LAYOUTS,
        authorize_url,
        code_flow,
        join_scope,
        parse_callback,
        parse_fragment_token,
        parse_password_login,
        parse_token_response,
        password_flow,
        prepare_code_exchange,
        prepare_password_login,
        prepare_refresh,
        refresh_flow,
    )
    from ._paging import DEFAULT_MAX_PAGES, Page, Pager
    from ._rest import (
        FORM_CONTENT_TYPE,
        RESERVED_PARAMS,
        describe_body,
        form_encode,
        parse_call_response,
        parse_json_body,
        prepare_call,
    )
    from ._retry import RetryPolicy
    from ._scrub import scrub_error
    from ._session import CORE_OPTIONS, OnToken, SessionCore
    from ._sign import UNSIGNED_PARAMS, canonical_string, server_secret, sign, wire_params, wire_value
    from ._spec import (
        AppSessionSpec,
        ClientSessionSpec,
        CodeSessionSpec,
        ImplicitSessionSpec,
        PasswordSessionSpec,
        PublicSessionSpec,
        RefreshSessionSpec,
        ServerSessionSpec,
        SessionSpec,
    )
    from ._store import StoredToken, StoreError, TokenStore, token_from_json, token_to_json  # okru issue 16
    from ._token import Token
    from ._types import SECRET_PARAM_NAMES, Endpoints, Request, Response, Secret, mask_query, reveal
    from ._upload import (
        PHOTO_IDS_PLACEHOLDER,
        UPLOAD_STEPS,
        Photo,
        PhotoSource,
        UploadedPhoto,
        UploadError,
        build_multipart,
        commit_params,
        fill_photo_ids,
        parse_commit,
        parse_upload_reply,
        parse_upload_url,
        photo_media,
        prepare_upload,
        upload_photos_flow,
    )
    from ._video import (
        DEFAULT_CHUNK_SIZE,
        MULTIPART_LIMIT,
        RESUMABLE_THRESHOLD,
        VIDEO_STEPS,
        ResumeState,
        UploadedVideo,
        UploadStatus,
        VideoSource,
        VideoUploadError,
        content_range,
        mask_upload_url,
        parse_upload_status,
        parse_video_upload_url,
        upload_video_flow,
        video_media,
    )
    from ._webhook import (
        CallbackPressed,
        ChatSystemEvent,
        DedupWindow,
        MessageCreated,
        UnknownEvent,
        WebhookError,
        WebhookEvent,
        event_key,
        parse_webhook,
    )
    from ._webhook_app import OK_WEBHOOK_NETWORKS, WebhookApp, webhook_app

#: Each public name's submodule (the names above, for the type checker, come from the same).
_SUBMODULES: dict[str, tuple[str, ...]] = {
    "_body": ("DEFAULT_BLOCK_SIZE", "SourceRange", "StreamedBody", "plan_blocks"),
    "_video": (
        "DEFAULT_CHUNK_SIZE", "MULTIPART_LIMIT", "RESUMABLE_THRESHOLD", "VIDEO_STEPS", "ResumeState", "UploadedVideo", "UploadStatus", "VideoSource", "VideoUploadError", "content_range", "mask_upload_url", "parse_upload_status", "parse_video_upload_url", "upload_video_flow", "video_media"
    ),
    "_api": (
        "API",
    ),
    "_bot_core": (
        "BotCore", "HistoryPager"
    ),
    "_bot_facade": (
        "AsyncBotBase", "BOT_OPTIONS", "BotSessionSpec", "SyncBotBase"
    ),
    "_bot_types": (
        "ATTACHMENT_TYPES", "Attachment", "BotInfo", "Button", "Chat", "ChatMessage",
        "ChatsPage", "DirectSend", "MAX_ATTACHMENTS", "SentMessage", "Subscription",
        "UploadTarget", "build_message", "keyboard"
    ),
    "_circuit": (
        "CIRCUITS", "Circuit", "circuit_for", "signing_secret"
    ),
    "_dialog": (
        "CookieJar", "Form", "MAX_DIALOG_STEPS", "implicit_flow", "parse_forms"
    ),
    "_error_codes": (
        "ERROR_CODES", "ErrorCode"
    ),
    "_errors": (
        "APIError", "AuthLoginError", "BadCredentialsError", "CaptchaRequiredError",
        "DialogError", "Error", "FloodBlockedError", "HTTPStatusError",
        "HumanCheckRequiredError", "InvalidSessionError", "LimitReachedError",
        "MethodNotFoundError", "NotSessionMethodError", "OAuthError", "ParamError",
        "PermissionDeniedError", "ProtocolError", "ReloginRequiredError", "RetryLaterError",
        "ServiceUnavailableError", "SessionExpiredError", "SessionRequiredError",
        "SignatureError", "StateMismatchError", "TransportError", "TransportTimeout",
        "UsageError", "api_error_from_payload"
    ),
    "_facade": (
        "AsyncSessionBase", "SyncSessionBase"
    ),
    "_flow": (
        "Callback", "Effect", "Flow", "RefreshNeeded", "Sleep", "StoreCall", "guarded",
        "run_async", "run_sync"
    ),
    "_grants": (
        "CodeGrant", "Grant", "ImplicitGrant", "PasswordGrant", "RefreshGrant"
    ),
    "_graph": (
        "BotTokenError", "ChatNotFoundError", "FILE_TYPES", "GRAPH_CONTENT_TYPE",
        "parse_graph_response", "prepare_graph"
    ),
    "_oauth": (
        "DEFAULT_IMPLICIT_REDIRECT_URI", "LAYOUTS", "authorize_url", "code_flow", "join_scope",
        "parse_callback", "parse_fragment_token", "parse_password_login",
        "parse_token_response", "password_flow", "prepare_code_exchange",
        "prepare_password_login", "prepare_refresh", "refresh_flow"
    ),
    "_paging": (
        "DEFAULT_MAX_PAGES", "Page", "Pager"
    ),
    "_rest": (
        "FORM_CONTENT_TYPE", "RESERVED_PARAMS", "describe_body", "form_encode",
        "parse_call_response", "parse_json_body", "prepare_call"
    ),
    "_retry": (
        "RetryPolicy",
    ),
    "_scrub": (
        "scrub_error",
    ),
    "_session": (
        "CORE_OPTIONS", "OnToken", "SessionCore"
    ),
    "_sign": (
        "UNSIGNED_PARAMS", "canonical_string", "server_secret", "sign", "wire_params",
        "wire_value",
    ),
    "_spec": (
        "AppSessionSpec", "ClientSessionSpec", "CodeSessionSpec", "ImplicitSessionSpec",
        "PasswordSessionSpec", "PublicSessionSpec", "RefreshSessionSpec", "ServerSessionSpec",
        "SessionSpec",
    ),
    "_store": (
        "StoreError", "StoredToken", "TokenStore", "token_from_json", "token_to_json"
    ),
    "_token": (
        "Token",
    ),
    "_types": (
        "Endpoints", "Request", "Response", "SECRET_PARAM_NAMES", "Secret", "mask_query",
        "reveal",
    ),
    "_upload": (
        "PHOTO_IDS_PLACEHOLDER", "Photo", "PhotoSource", "UPLOAD_STEPS", "UploadError",
        "UploadedPhoto", "build_multipart", "commit_params", "fill_photo_ids", "parse_commit",
        "parse_upload_reply", "parse_upload_url", "photo_media", "prepare_upload",
        "upload_photos_flow",
    ),
    "_webhook": (
        "CallbackPressed", "ChatSystemEvent", "DedupWindow", "MessageCreated", "UnknownEvent",
        "WebhookError", "WebhookEvent", "event_key", "parse_webhook"
    ),
    "_webhook_app": (
        "OK_WEBHOOK_NETWORKS", "WebhookApp", "webhook_app"
    ),
}
_WHERE = {name: module.removeprefix(".") for module, names in _SUBMODULES.items() for name in names}

__all__ = [
    "API",
    "ATTACHMENT_TYPES",
    "BOT_OPTIONS",
    "CIRCUITS",
    "CORE_OPTIONS",
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_IMPLICIT_REDIRECT_URI",
    "DEFAULT_MAX_PAGES",
    "ERROR_CODES",
    "FILE_TYPES",
    "FORM_CONTENT_TYPE",
    "GRAPH_CONTENT_TYPE",
    "LAYOUTS",
    "MAX_ATTACHMENTS",
    "MAX_DIALOG_STEPS",
    "MULTIPART_LIMIT",
    "OK_WEBHOOK_NETWORKS",
    "PHOTO_IDS_PLACEHOLDER",
    "RESERVED_PARAMS",
    "RESUMABLE_THRESHOLD",
    "SECRET_PARAM_NAMES",
    "UNSIGNED_PARAMS",
    "UPLOAD_STEPS",
    "VIDEO_STEPS",
    "APIError",
    "AppSessionSpec",
    "AsyncBotBase",
    "AsyncSessionBase",
    "Attachment",
    "AuthLoginError",
    "BadCredentialsError",
    "BotCore",
    "BotInfo",
    "BotSessionSpec",
    "BotTokenError",
    "Button",
    "Callback",
    "CallbackPressed",
    "CaptchaRequiredError",
    "Chat",
    "ChatMessage",
    "ChatNotFoundError",
    "ChatSystemEvent",
    "ChatsPage",
    "Circuit",
    "ClientSessionSpec",
    "CodeGrant",
    "CodeSessionSpec",
    "CookieJar",
    "DedupWindow",
    "DialogError",
    "DirectSend",
    "Effect",
    "Endpoints",
    "Error",
    "ErrorCode",
    "FloodBlockedError",
    "Flow",
    "Form",
    "Grant",
    "HTTPStatusError",
    "HistoryPager",
    "HumanCheckRequiredError",
    "ImplicitGrant",
    "ImplicitSessionSpec",
    "InvalidSessionError",
    "LimitReachedError",
    "MessageCreated",
    "MethodNotFoundError",
    "NotSessionMethodError",
    "OAuthError",
    "OnToken",
    "Page",
    "Pager",
    "ParamError",
    "PasswordGrant",
    "PasswordSessionSpec",
    "PermissionDeniedError",
    "Photo",
    "PhotoSource",
    "ProtocolError",
    "PublicSessionSpec",
    "RefreshGrant",
    "RefreshNeeded",
    "RefreshSessionSpec",
    "ReloginRequiredError",
    "Request",
    "Response",
    "ResumeState",
    "RetryLaterError",
    "RetryPolicy",
    "Secret",
    "SentMessage",
    "ServerSessionSpec",
    "ServiceUnavailableError",
    "SessionCore",
    "SessionExpiredError",
    "SessionRequiredError",
    "SessionSpec",
    "SignatureError",
    "Sleep",
    "SourceRange",
    "StateMismatchError",
    "StoreCall",
    "StoreError",
    "StoredToken",
    "StreamedBody",
    "Subscription",
    "SyncBotBase",
    "SyncSessionBase",
    "Token",
    "TokenStore",
    "TransportError",
    "TransportTimeout",
    "UnknownEvent",
    "UploadError",
    "UploadStatus",
    "UploadTarget",
    "UploadedPhoto",
    "UploadedVideo",
    "UsageError",
    "VideoSource",
    "VideoUploadError",
    "WebhookApp",
    "WebhookError",
    "WebhookEvent",
    "api_error_from_payload",
    "authorize_url",
    "build_message",
    "build_multipart",
    "canonical_string",
    "circuit_for",
    "code_flow",
    "commit_params",
    "content_range",
    "describe_body",
    "event_key",
    "fill_photo_ids",
    "form_encode",
    "guarded",
    "implicit_flow",
    "join_scope",
    "keyboard",
    "mask_query",
    "mask_upload_url",
    "parse_call_response",
    "parse_callback",
    "parse_commit",
    "parse_forms",
    "parse_fragment_token",
    "parse_graph_response",
    "parse_json_body",
    "parse_password_login",
    "parse_token_response",
    "parse_upload_reply",
    "parse_upload_status",
    "parse_upload_url",
    "parse_video_upload_url",
    "parse_webhook",
    "password_flow",
    "photo_media",
    "plan_blocks",
    "prepare_call",
    "prepare_code_exchange",
    "prepare_graph",
    "prepare_password_login",
    "prepare_refresh",
    "prepare_upload",
    "refresh_flow",
    "reveal",
    "run_async",
    "run_sync",
    "scrub_error",
    "server_secret",
    "sign",
    "signing_secret",
    "token_from_json",
    "token_to_json",
    "upload_photos_flow",
    "upload_video_flow",
    "video_media",
    "webhook_app",
    "wire_params",
    "wire_value",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'okru_proto' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
