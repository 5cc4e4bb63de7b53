"""The exception tree: every class okru raises lives here (docs/protocol.md §4, §5), and the one
mapping from an OK.ru error payload to its class (:func:`api_error_from_payload`).

The code table is below (:data:`ERROR_CODES`); masking secrets in these errors' text is ``_scrub``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = [
    "ERROR_CODES",
    "APIError",
    "AuthLoginError",
    "BadCredentialsError",
    "CaptchaRequiredError",
    "DialogError",
    "Error",
    "ErrorCode",
    "FloodBlockedError",
    "HTTPStatusError",
    "HumanCheckRequiredError",
    "InvalidSessionError",
    "LimitReachedError",
    "MethodNotFoundError",
    "NotSessionMethodError",
    "OAuthError",
    "ParamError",
    "PermissionDeniedError",
    "ProtocolError",
    "ReloginRequiredError",
    "RetryLaterError",
    "ServiceUnavailableError",
    "SessionExpiredError",
    "SessionRequiredError",
    "SignatureError",
    "StateMismatchError",
    "TransportError",
    "TransportTimeout",
    "UsageError",
    "api_error_from_payload",
]


class Error(Exception):
    """Base of every exception okru raises."""


class UsageError(Error, ValueError):
    """The caller passed something okru cannot use (raised before any request exists)."""


class TransportError(Error):
    """The request could not be sent or the reply not read (the cause is ``__cause__``)."""

    retryable = True


class TransportTimeout(TransportError):
    """A connect, read or whole-call timeout expired."""


class ProtocolError(Error):
    """A reply that breaks OK.ru's protocol: HTML or garbage where JSON was due, a missing field,
    an unexpected status, a truncated or non-UTF-8 body.

    ``response`` keeps the raw :class:`~okru_proto.adapter.Response` for inspection (its repr never shows
    the body, which may hold tokens).
    """

    retryable = False

    def __init__(self, message: str, *, method: str | None = None, status: int | None = None,
                 response: Any = None) -> None:
        super().__init__(message)
        self.method = method
        self.status = status
        self.response = response


class HTTPStatusError(ProtocolError):
    """A non-2xx HTTP status where OK.ru answers 200 (5xx are worth retrying)."""

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.status is not None and self.status >= 500


class OAuthError(Error):
    """An OAuth failure reported by OK.ru (``error``/``error_description``) or by the dialogs."""

    def __init__(self, error: str, error_description: str | None = None) -> None:
        self.error = error
        self.error_description = error_description
        text = error if not error_description else f"{error}: {error_description}"
        super().__init__(text)


class StateMismatchError(OAuthError):
    """The ``state`` in a callback is not the one the app sent (possible CSRF): refused."""

    def __init__(self) -> None:
        super().__init__("state_mismatch", "the callback's state does not match the one sent")


class DialogError(OAuthError):
    """OK.ru's login/permission dialog showed a page okru cannot pass (captcha, phone check...).

    ``st_cmd`` names what OK showed (its ``st.cmd``), when known.
    """

    def __init__(self, description: str, *, st_cmd: str | None = None) -> None:
        self.st_cmd = st_cmd
        super().__init__("dialog_error", description)


class BadCredentialsError(OAuthError):
    """OK.ru refused the login and password (the login form came back)."""

    def __init__(self, description: str = "OK.ru refused the login or password") -> None:
        super().__init__("bad_credentials", description)


class APIError(Error):
    """OK.ru answered a REST call with an error object (HTTP 200, ``Invocation-Error`` header).

    ``code``, ``msg`` (OK's ``error_msg``, e.g. ``"PARAM : ..."``), ``data`` (``error_data``),
    ``symbol`` (``"PARAM"``) and ``method`` (the REST method called). The flags say what to do:
    ``retryable`` (flood, service: back off), ``needs_refresh`` (102), ``needs_relogin``.
    """

    retryable = False
    needs_refresh = False
    needs_relogin = False

    def __init__(self, code: int, msg: str = "", data: object = None, *, method: str | None = None) -> None:
        self.code = code
        self.msg = msg
        self.data = data
        self.method = method
        known = ERROR_CODES.get(code)
        self.symbol = known.symbol if known else (msg.split(" :", 1)[0].strip() or "UNKNOWN_CODE")
        where = f"{method}: " if method else ""
        text = msg or f"{self.symbol} : {known.meaning if known else 'no message'}"
        super().__init__(f"{where}OK.ru error {code}: {text}")

    @property
    def action(self) -> str:
        known = ERROR_CODES.get(self.code)
        return known.action if known else "see the OK.ru docs for this code"


class RetryLaterError(APIError):
    """Transient: back off and retry (2 SERVICE, 8 FLOOD_BLOCKED, 11 LIMIT_REACHED, 1, 9999)."""

    retryable = True


class ServiceUnavailableError(RetryLaterError):
    """2 SERVICE."""


class FloodBlockedError(RetryLaterError):
    """8 FLOOD_BLOCKED."""


class LimitReachedError(RetryLaterError):
    """11 LIMIT_REACHED."""


class SessionExpiredError(APIError):
    """102 PARAM_SESSION_EXPIRED: refresh the token and call again."""

    needs_refresh = True


class ReloginRequiredError(APIError):
    """The session is gone or the login failed: authorize again."""

    needs_relogin = True


class InvalidSessionError(ReloginRequiredError):
    """103 PARAM_SESSION_KEY."""


class AuthLoginError(ReloginRequiredError):
    """401 AUTH_LOGIN: bad login/password/token, or the user is blocked."""


class CaptchaRequiredError(ReloginRequiredError):
    """402 AUTH_LOGIN_CAPTCHA."""


class HumanCheckRequiredError(ReloginRequiredError):
    """403 AUTH_LOGIN_WEB_HUMAN_CHECK."""


class SignatureError(APIError):
    """104 PARAM_SIGNATURE (OK's message shows the string it signed, secret masked by OK)."""


class PermissionDeniedError(APIError):
    """10 PERMISSION_DENIED: ``permission`` names what the user must grant."""

    @property
    def permission(self) -> str | None:
        return self.data.upper() if isinstance(self.data, str) else None


class ParamError(APIError):
    """100 PARAM: a missing or invalid parameter."""


class MethodNotFoundError(APIError):
    """3 METHOD."""


class SessionRequiredError(APIError):
    """453 SESSION_REQUIRED."""


class NotSessionMethodError(APIError):
    """451 NOT_SESSION_METHOD: call it session-less (``AppSession``)."""


_BY_CODE: dict[int, type[APIError]] = {
    1: RetryLaterError,
    2: ServiceUnavailableError,
    3: MethodNotFoundError,
    8: FloodBlockedError,
    10: PermissionDeniedError,
    11: LimitReachedError,
    100: ParamError,
    102: SessionExpiredError,
    103: InvalidSessionError,
    104: SignatureError,
    401: AuthLoginError,
    402: CaptchaRequiredError,
    403: HumanCheckRequiredError,
    451: NotSessionMethodError,
    453: SessionRequiredError,
    9999: RetryLaterError,
}


def api_error_from_payload(payload: dict[str, Any], method: str | None = None) -> APIError:
    """The typed :class:`APIError` for an OK error object ``{"error_code", "error_msg", ...}``."""
    raw = payload.get("error_code")
    try:
        code = int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON Infinity / 1e400
        code = 1
    msg = payload.get("error_msg")
    cls = _BY_CODE.get(code, APIError)
    return cls(code, msg if isinstance(msg, str) else "", payload.get("error_data"), method=method)


# (was: OK.ru's error codes: everything okru knows about a numeric ``error_code`` lives here.)


class ErrorCode(NamedTuple):
    symbol: str
    meaning: str
    action: str


_RETRY = "retry later with backoff (okru's RetryPolicy does this)"
_FIX = "fix the request"
_RELOGIN = "authorize again (a new token is needed)"

#: Every OK.ru error code known from docs/protocol.md §5: symbol, meaning, what to do.
ERROR_CODES: dict[int, ErrorCode] = {
    1: ErrorCode("UNKNOWN", "Unknown error", _RETRY),
    2: ErrorCode("SERVICE", "Service temporarily unavailable", _RETRY),
    3: ErrorCode("METHOD", "Method does not exist", "check the method name"),
    4: ErrorCode("REQUEST", "Failed to process request", _FIX),
    7: ErrorCode("ACTION_BLOCKED", "Action temporarily blocked for the current user", "wait; the user is blocked for now"),
    8: ErrorCode("FLOOD_BLOCKED", "Call blocked due to flood protection", _RETRY),
    9: ErrorCode("IP_BLOCKED", "Blocked by IP due to suspicious activity", "contact OK.ru support"),
    10: ErrorCode("PERMISSION_DENIED", "The user did not grant the permission needed", "request the permission named in error_data"),
    11: ErrorCode("LIMIT_REACHED", "Method invocation limit reached", _RETRY),
    12: ErrorCode("CANCELLED", "Operation cancelled by user", "nothing to retry"),
    21: ErrorCode("NOT_MULTIPART", "Not a multipart request when uploading a photo", _FIX),
    22: ErrorCode("NOT_ACTIVATED", "User must activate the profile", "ask the user to activate the profile"),
    23: ErrorCode("NOT_YET_INVOLVED", "User not involved in the application", "ask the user to open the app"),
    24: ErrorCode("NOT_OWNER", "User does not own the object", _FIX),
    25: ErrorCode("NOT_ACTIVE", "Notification error: user not active in the app", "skip this user"),
    26: ErrorCode("TOTAL_LIMIT_REACHED", "Notification limit reached", "wait for the daily reset (04:00)"),
    30: ErrorCode("NETWORK", "Request body too large or bad headers", _FIX),
    31: ErrorCode("NETWORK_TIMEOUT", "Client sent the body too slowly", _RETRY),
    50: ErrorCode("NOT_ADMIN", "No admin rights for this method", "use an admin account"),
    100: ErrorCode("PARAM", "Missing or invalid parameter", _FIX),
    101: ErrorCode("PARAM_API_KEY", "application_key missing or invalid", "check app_key (the public key)"),
    102: ErrorCode("PARAM_SESSION_EXPIRED", "Session expired", "refresh the token (okru does this when it has a refresh token)"),
    103: ErrorCode("PARAM_SESSION_KEY", "Invalid session key", _RELOGIN),
    104: ErrorCode("PARAM_SIGNATURE", "Invalid signature", "check the secret for the circuit; `okru sign` shows the signed string"),
    105: ErrorCode("PARAM_RESIGNATURE", "Invalid re-signature", _FIX),
    106: ErrorCode("PARAM_ENTITY_ID", "Invalid entity ID", _FIX),
    110: ErrorCode("PARAM_USER_ID", "Invalid user ID", _FIX),
    120: ErrorCode("PARAM_ALBUM_ID", "Invalid album ID", _FIX),
    121: ErrorCode("PARAM_PHOTO_ID", "Invalid photo ID", _FIX),
    130: ErrorCode("PARAM_WIDGET", "Invalid widget ID", _FIX),
    140: ErrorCode("PARAM_MESSAGE_ID", "Invalid message ID", _FIX),
    141: ErrorCode("PARAM_COMMENT_ID", "Invalid comment ID", _FIX),
    150: ErrorCode("PARAM_HAPPENING_ID", "Invalid happening ID", _FIX),
    151: ErrorCode("PARAM_HAPPENING_PHOTO_ID", "Invalid happening photo ID", _FIX),
    160: ErrorCode("PARAM_GROUP_ID", "Invalid group ID", _FIX),
    200: ErrorCode("PARAM_PERMISSION", "App cannot perform the operation", "authorize the user first"),
    210: ErrorCode("PARAM_APPLICATION_DISABLED", "Application disabled", "check the app's status on OK.ru"),
    211: ErrorCode("PARAM_DECISION", "Invalid decision ID", _FIX),
    212: ErrorCode("PARAM_BADGE_ID", "Invalid badge ID", _FIX),
    213: ErrorCode("PARAM_PRESENT_ID", "Invalid present ID", _FIX),
    214: ErrorCode("PARAM_RELATION_TYPE", "Invalid relation type", _FIX),
    220: ErrorCode("PARAM_FIELDSET", "Invalid field set", _FIX),
    300: ErrorCode("NOT_FOUND", "Requested information not found", "check the ids"),
    324: ErrorCode("EDIT_PHOTO_FILE", "Error processing the multipart request", _FIX),
    401: ErrorCode("AUTH_LOGIN", "Bad login, password or token, or user blocked", "check the credentials"),
    402: ErrorCode("AUTH_LOGIN_CAPTCHA", "Captcha required", "log in through a browser once"),
    403: ErrorCode("AUTH_LOGIN_WEB_HUMAN_CHECK", "Human check required", "log in through a browser once"),
    451: ErrorCode("NOT_SESSION_METHOD", "Session given for a method that must be called without one", "use AppSession (session-less, signed with the app secret)"),
    453: ErrorCode("SESSION_REQUIRED", "Session required", "call it with a user session"),
    454: ErrorCode("CENSOR_MATCH", "Text rejected by censor", "change the text"),
    455: ErrorCode("FRIEND_RESTRICTION", "Restricted by a friend (black list or private profile)", "nothing to retry"),
    456: ErrorCode("GROUP_RESTRICTION", "Group restriction", "nothing to retry"),
    457: ErrorCode("UNAUTHORIZED_RESTRICTION", "Unauthorized access", "nothing to retry"),
    458: ErrorCode("PRIVACY_RESTRICTION", "Privacy restriction", "nothing to retry"),
    500: ErrorCode("PHOTO_SIZE_LIMIT_EXCEEDED", "Image byte size over limit", "send a smaller file"),
    501: ErrorCode("PHOTO_SIZE_TOO_SMALL", "Image pixel size too small", "send a larger image"),
    502: ErrorCode("PHOTO_SIZE_TOO_BIG", "Image pixel size too big", "send a smaller image"),
    503: ErrorCode("PHOTO_INVALID_FORMAT", "Image format not recognized", "send JPEG/PNG/GIF"),
    504: ErrorCode("PHOTO_IMAGE_CORRUPTED", "Image corrupted", "send a valid image"),
    505: ErrorCode("PHOTO_NO_IMAGE", "No image in request", "attach the file"),
    508: ErrorCode("PHOTO_PIN_TOO_MUCH", "Too many photo pins", _FIX),
    511: ErrorCode("IDS_BLOCKED", "Antispam error", "nothing to retry"),
    512: ErrorCode("PHOTO_ALBUM_NOT_BELONGS_TO_USER", "Album is not the user's", _FIX),
    513: ErrorCode("PHOTO_ALBUM_NOT_BELONGS_TO_GROUP", "Album is not the group's", _FIX),
    514: ErrorCode("IDS_SESSION_VERIFICATION_REQUIRED", "User must pass verification", "ask the user to verify on OK.ru"),
    600: ErrorCode("MEDIA_TOPIC_BLOCK_LIMIT", "Too many media blocks", _FIX),
    601: ErrorCode("MEDIA_TOPIC_TEXT_LIMIT", "Text too long", _FIX),
    602: ErrorCode("MEDIA_TOPIC_POLL_QUESTION_TEXT_LIMIT", "Poll question too long", _FIX),
    603: ErrorCode("MEDIA_TOPIC_POLL_ANSWERS_LIMIT", "Too many poll answers", _FIX),
    604: ErrorCode("MEDIA_TOPIC_POLL_ANSWER_TEXT_LIMIT", "Poll answer too long", _FIX),
    605: ErrorCode("MEDIA_TOPIC_WITH_FRIENDS_LIMIT", "Too many pinned friends", _FIX),
    606: ErrorCode("MEDIA_TOPIC_WITH_FRIENDS_USER_LIMIT", "Pinned friends limit for this user", _FIX),
    607: ErrorCode("MEDIA_TOPIC_LINK_BAD_FORMAT", "Bad link format in the topic", _FIX),
    610: ErrorCode("GROUP_DUPLICATE_JOIN_REQUEST", "Join request already registered", "nothing to retry"),
    700: ErrorCode("COMMENT_NOT_FOUND", "Comment not found", _FIX),
    701: ErrorCode("INVALID_AUTHOR", "Invalid author", _FIX),
    702: ErrorCode("COMMENT_NOT_ACTIVE", "Comment removed", "nothing to retry"),
    704: ErrorCode("TIMEOUT_EXCEEDED", "Edit timeout exceeded", "nothing to retry"),
    705: ErrorCode("CHAT_NOT_FOUND", "Chat not found", _FIX),
    706: ErrorCode("MESSAGE_NOT_ACTIVE", "Message removed", "nothing to retry"),
    707: ErrorCode("STICKER_SERVICE_UNAVAILABLE_TO_USER", "Stickers unavailable to the user", "nothing to retry"),
    708: ErrorCode("STICKER_MESSAGE_INVALID", "Invalid sticker message", _FIX),
    709: ErrorCode("GIF_SERVICE_UNAVAILABLE_TO_USER", "GIFs unavailable to the user", "nothing to retry"),
    800: ErrorCode("CHAT_MAX_PARTICIPANT_COUNT_LIMIT", "Too many chat participants", _FIX),
    801: ErrorCode("CHAT_PARTICIPANTS_EMPTY_BLOCKED_USERS", "All participants blocked", _FIX),
    802: ErrorCode("CHAT_PARTICIPANTS_EMPTY_NON_EXISTENT_USERS", "No participant exists", _FIX),
    900: ErrorCode("NO_SUCH_APP", "No such application", "check the app id"),
    1001: ErrorCode("CALLBACK_INVALID_PAYMENT", "App server reports an invalid transaction", "check the payment callback"),
    1002: ErrorCode("PAYMENT_IS_REQUIRED_PAYMENT", "Payment required", "nothing to retry"),
    1003: ErrorCode("INVALID_PAYMENT", "Invalid payment transaction", _FIX),
    1004: ErrorCode("DUPLICATE_PAYMENT", "Payment too frequent", _RETRY),
    1005: ErrorCode("NOT_ENOUGH_MONEY", "Not enough money", "nothing to retry"),
    1101: ErrorCode("VCHAT_SERVICE_DISABLED", "Video chat disabled", "nothing to retry"),
    1102: ErrorCode("TARGET_USER_UNAVAILABLE", "Target unavailable for video chat", "nothing to retry"),
    1103: ErrorCode("FRIENDSHIP_REQUIRED", "Target must be a friend", "nothing to retry"),
    1200: ErrorCode("BATCH", "Batching error", _FIX),
    1300: ErrorCode("APP_NO_PLATFORM_ALLOWED", "No platforms allowed for the app", "check the app settings"),
    1301: ErrorCode("APP_DEVICE_NOT_ALLOWED", "Device not allowed", "check the app settings"),
    1302: ErrorCode("APP_DEVICE_NOT_SPECIFIED", "Device not specified", _FIX),
    1400: ErrorCode("APP_EMPTY_SEARCH_PARAMS", "Location search error", _FIX),
    1401: ErrorCode("APP_SEARCH_SCENARIO_DOES_NOT_EXIST", "Location search error", _FIX),
    2001: ErrorCode("GRAPH_PARAM_REQUEST", "Graph request parameter error", _FIX),
    5000: ErrorCode("INVALID_RESPONSE", "Invalid response (e.g. unknown format)", "send format=json"),
    9999: ErrorCode("SYSTEM", "Critical system error", "report to OK.ru support; retry later"),
}
