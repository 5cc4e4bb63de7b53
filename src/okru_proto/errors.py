"""okru_proto.errors: every exception okru raises, in one namespace, and the OK.ru error-code table.

The top level ``okru_proto`` carries only the base classes an application catches (``Error``,
``APIError``, ``RetryLaterError``, ``ReloginRequiredError``...); this module also holds every leaf
(``PermissionDeniedError``, ``CaptchaRequiredError``, ``VideoUploadError``...), the code table
:data:`ERROR_CODES` (docs/protocol.md §5) and :func:`api_error_from_payload`, which maps an OK.ru
error payload to its class. Every class here is a subclass of one of the top-level bases, so
catching a base catches its leaves (docs/errors.md).

The classes live with the code that raises them (``_errors``, ``_photos``, ``_video``,
``_store``, ``bots/_graph``, ``bots/_webhook``, ``apps``); this module owns only the list.
"""

from __future__ import annotations

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
from ._photos import UploadError
from ._store import StoreError
from ._video import VideoUploadError
from .apps import LaunchError, PaymentError
from .bots._graph import BotTokenError, ChatNotFoundError
from .bots._webhook import WebhookError

__all__ = [
    "ERROR_CODES",
    "APIError",
    "AuthLoginError",
    "BadCredentialsError",
    "BotTokenError",
    "CaptchaRequiredError",
    "ChatNotFoundError",
    "DialogError",
    "Error",
    "ErrorCode",
    "FloodBlockedError",
    "HTTPStatusError",
    "HumanCheckRequiredError",
    "InvalidSessionError",
    "LaunchError",
    "LimitReachedError",
    "MethodNotFoundError",
    "NotSessionMethodError",
    "OAuthError",
    "ParamError",
    "PaymentError",
    "PermissionDeniedError",
    "ProtocolError",
    "ReloginRequiredError",
    "RetryLaterError",
    "ServiceUnavailableError",
    "SessionExpiredError",
    "SessionRequiredError",
    "SignatureError",
    "StateMismatchError",
    "StoreError",
    "TransportError",
    "TransportTimeout",
    "UploadError",
    "UsageError",
    "VideoUploadError",
    "WebhookError",
    "api_error_from_payload",
]
