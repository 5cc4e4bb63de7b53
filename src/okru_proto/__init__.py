"""okru_proto: the sans-I/O core of okru, the OK.ru (Odnoklassniki) API client.

Pure protocol: it builds :class:`Request` values, reads :class:`Response` values and returns
typed results or raises typed errors. No sockets, no clock, no event loop; standard library only.

Every public name is loaded on first use (PEP 562 ``__getattr__``): ``import okru_proto`` costs
next to nothing, and ``from okru_proto import prepare_call`` loads only the modules that name
needs, so a command line or a serverless function does not pay for the login-dialog parser
(html.parser, datetime) unless it runs the implicit grant.
"""

from __future__ import annotations

import importlib

# Not typing.TYPE_CHECKING: importing typing alone would cost more than this whole module
# (mypy treats any constant of this name as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._dialog import MAX_DIALOG_STEPS, CookieJar, Form, implicit_flow, parse_forms
    from ._errors import (
        ERROR_CODES,
        APIError,
        AuthLoginError,
        BadCredentialsError,
        CaptchaRequiredError,
        DialogError,
        Error,
        ErrorCode,
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
    from ._flow import Effect, Flow, RefreshNeeded, Sleep, run_async, run_sync
    from ._oauth import (
        DEFAULT_IMPLICIT_REDIRECT_URI,
        LAYOUTS,
        Token,
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
    from ._session import (
        API,
        CORE_OPTIONS,
        AppSessionSpec,
        ClientSessionSpec,
        CodeGrant,
        CodeSessionSpec,
        Grant,
        ImplicitGrant,
        ImplicitSessionSpec,
        PasswordGrant,
        PasswordSessionSpec,
        PublicSessionSpec,
        RefreshGrant,
        RefreshSessionSpec,
        RetryPolicy,
        ServerSessionSpec,
        SessionCore,
        SessionSpec,
    )
    from ._sign import UNSIGNED_PARAMS, canonical_string, server_secret, sign, wire_params, wire_value
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

#: Each public name's submodule (the names above, for the type checker, come from the same).
_SUBMODULES: dict[str, tuple[str, ...]] = {
    "_dialog": (
        "CookieJar", "Form", "MAX_DIALOG_STEPS", "implicit_flow", "parse_forms"
    ),
    "_errors": (
        "APIError", "AuthLoginError", "BadCredentialsError", "CaptchaRequiredError", "DialogError",
        "ERROR_CODES", "Error", "ErrorCode", "FloodBlockedError", "HTTPStatusError",
        "HumanCheckRequiredError", "InvalidSessionError", "LimitReachedError", "MethodNotFoundError",
        "NotSessionMethodError", "OAuthError", "ParamError", "PermissionDeniedError", "ProtocolError",
        "ReloginRequiredError", "RetryLaterError", "ServiceUnavailableError", "SessionExpiredError",
        "SessionRequiredError", "SignatureError", "StateMismatchError", "TransportError",
        "TransportTimeout", "UsageError", "api_error_from_payload"
    ),
    "_facade": (
        "AsyncSessionBase", "SyncSessionBase"
    ),
    "_flow": (
        "Effect", "Flow", "RefreshNeeded", "Sleep", "run_async", "run_sync"
    ),
    "_oauth": (
        "DEFAULT_IMPLICIT_REDIRECT_URI", "LAYOUTS", "Token", "authorize_url", "code_flow", "join_scope",
        "parse_callback", "parse_fragment_token", "parse_password_login", "parse_token_response",
        "password_flow", "prepare_code_exchange", "prepare_password_login", "prepare_refresh",
        "refresh_flow"
    ),
    "_paging": (
        "DEFAULT_MAX_PAGES", "Page", "Pager"
    ),
    "_rest": (
        "FORM_CONTENT_TYPE", "RESERVED_PARAMS", "describe_body", "form_encode", "parse_call_response",
        "parse_json_body", "prepare_call"
    ),
    "_session": (
        "API", "AppSessionSpec", "CORE_OPTIONS", "ClientSessionSpec", "CodeGrant", "CodeSessionSpec",
        "Grant", "ImplicitGrant", "ImplicitSessionSpec", "PasswordGrant", "PasswordSessionSpec",
        "PublicSessionSpec", "RefreshGrant", "RefreshSessionSpec", "RetryPolicy", "ServerSessionSpec",
        "SessionCore", "SessionSpec"
    ),
    "_sign": (
        "UNSIGNED_PARAMS", "canonical_string", "server_secret", "sign", "wire_params", "wire_value"
    ),
    "_types": (
        "Endpoints", "Request", "Response", "SECRET_PARAM_NAMES", "Secret", "mask_query", "reveal"
    ),
    "_upload": (
        "PHOTO_IDS_PLACEHOLDER", "Photo", "PhotoSource", "UPLOAD_STEPS", "UploadError", "UploadedPhoto",
        "build_multipart", "commit_params", "fill_photo_ids", "parse_commit", "parse_upload_reply",
        "parse_upload_url", "photo_media", "prepare_upload", "upload_photos_flow"
    ),
}
_WHERE = {name: module for module, names in _SUBMODULES.items() for name in names}

__all__ = [
    "API",
    "CORE_OPTIONS",
    "DEFAULT_IMPLICIT_REDIRECT_URI",
    "DEFAULT_MAX_PAGES",
    "ERROR_CODES",
    "FORM_CONTENT_TYPE",
    "LAYOUTS",
    "MAX_DIALOG_STEPS",
    "PHOTO_IDS_PLACEHOLDER",
    "RESERVED_PARAMS",
    "SECRET_PARAM_NAMES",
    "UNSIGNED_PARAMS",
    "UPLOAD_STEPS",
    "APIError",
    "AppSessionSpec",
    "AsyncSessionBase",
    "AuthLoginError",
    "BadCredentialsError",
    "CaptchaRequiredError",
    "ClientSessionSpec",
    "CodeGrant",
    "CodeSessionSpec",
    "CookieJar",
    "DialogError",
    "Effect",
    "Endpoints",
    "Error",
    "ErrorCode",
    "FloodBlockedError",
    "Flow",
    "Form",
    "Grant",
    "HTTPStatusError",
    "HumanCheckRequiredError",
    "ImplicitGrant",
    "ImplicitSessionSpec",
    "InvalidSessionError",
    "LimitReachedError",
    "MethodNotFoundError",
    "NotSessionMethodError",
    "OAuthError",
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
    "RetryLaterError",
    "RetryPolicy",
    "Secret",
    "ServerSessionSpec",
    "ServiceUnavailableError",
    "SessionCore",
    "SessionExpiredError",
    "SessionRequiredError",
    "SessionSpec",
    "SignatureError",
    "Sleep",
    "StateMismatchError",
    "SyncSessionBase",
    "Token",
    "TransportError",
    "TransportTimeout",
    "UploadError",
    "UploadedPhoto",
    "UsageError",
    "api_error_from_payload",
    "authorize_url",
    "build_multipart",
    "canonical_string",
    "code_flow",
    "commit_params",
    "describe_body",
    "fill_photo_ids",
    "form_encode",
    "implicit_flow",
    "join_scope",
    "mask_query",
    "parse_call_response",
    "parse_callback",
    "parse_commit",
    "parse_forms",
    "parse_fragment_token",
    "parse_json_body",
    "parse_password_login",
    "parse_token_response",
    "parse_upload_reply",
    "parse_upload_url",
    "password_flow",
    "photo_media",
    "prepare_call",
    "prepare_code_exchange",
    "prepare_password_login",
    "prepare_refresh",
    "prepare_upload",
    "refresh_flow",
    "reveal",
    "run_async",
    "run_sync",
    "server_secret",
    "sign",
    "upload_photos_flow",
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
