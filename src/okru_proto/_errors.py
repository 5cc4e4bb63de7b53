"""The exception tree: every class okru raises lives here (docs/protocol.md §4, §5), and the one
mapping from an OK.ru error payload to its class (:func:`api_error_from_payload`).

The code table is ``_error_codes``; masking secrets in these errors' text is ``_scrub``.
"""

from __future__ import annotations

from typing import Any

from ._error_codes import ERROR_CODES

__all__ = [
    "APIError",
    "AuthLoginError",
    "BadCredentialsError",
    "CaptchaRequiredError",
    "DialogError",
    "Error",
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
