"""OAuth 2.0: everything about talking to OK's OAuth endpoints lives here (docs/protocol.md §3):
the steps as pure prepare/parse pairs, and the code, refresh and password flows built on them
(the :class:`~okru_proto.Token` they yield is in ``okru_proto/_values.py``; the implicit dialogs are
``dialog.py`` beside this module).

The authorization-code grant is split at the human step: :func:`authorize_url` is a plain value
the app redirects a person to; later :func:`parse_callback` and :func:`code_flow` finish it. No
generator is kept alive across the human step.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from .._errors import (
    HTTPStatusError,
    OAuthError,
    ProtocolError,
    StateMismatchError,
    UsageError,
    api_error_from_payload,
)
from .._flow import Flow, guarded
from .._scrub import excerpt
from .._values import Endpoints, Request, Response, Secret, Token, reveal
from .rest import FORM_CONTENT_TYPE, describe_body, form_encode, parse_call_response, parse_json_body

__all__ = [
    "DEFAULT_IMPLICIT_REDIRECT_URI",
    "LAYOUTS",
    "authorize_url",
    "code_flow",
    "join_scope",
    "parse_callback",
    "parse_fragment_token",
    "parse_password_login",
    "parse_token_response",
    "password_flow",
    "prepare_code_exchange",
    "prepare_password_login",
    "prepare_refresh",
    "refresh_flow",
]

#: OK's dialog layouts: w = full site, m = mobile, a = simplified mobile (docs/protocol.md §3.1).
LAYOUTS = frozenset({"w", "m", "a"})
#: The implicit grant's "blank" redirect target (DOC-CLIENT ru; docs/protocol.md §1.2).
DEFAULT_IMPLICIT_REDIRECT_URI = "https://oauth.mycdn.me/blank.html"
_FORM = (("content-type", FORM_CONTENT_TYPE),)


def join_scope(scope: str | Iterable[str] | None) -> str:
    """Scopes joined with ``;`` as OK wants them (docs/protocol.md §6)."""
    if scope is None:
        return ""
    if isinstance(scope, str):
        return scope
    parts = [s for s in scope]
    for part in parts:
        if not isinstance(part, str) or ";" in part:
            raise UsageError(f"each scope must be a str without ';', got {part!r}")
    return ";".join(parts)


def _client_id(app_id: int | str) -> str:
    text = str(app_id) if isinstance(app_id, int) and not isinstance(app_id, bool) else app_id
    if not isinstance(text, str) or not text.isdigit():
        # token.do rejects non-numeric client_id with an HTML page (docs/protocol.md §3.1): the app
        # id is the numeric id, not the public key.
        raise UsageError(f"app_id must be OK's numeric application id, got {app_id!r}")
    return text


def authorize_url(
    app_id: int | str,
    *,
    redirect_uri: str,
    scope: str | Iterable[str] | None = ("VALUABLE_ACCESS",),
    state: str | None = None,
    layout: str | None = "w",
    response_type: str = "code",
    endpoints: Endpoints | None = None,
) -> str:
    """The URL of OK's authorization dialog (``{connect}/oauth/authorize``, docs/protocol.md §3.1).

    ``response_type="code"`` for the authorization-code grant, ``"token"`` for the implicit
    grant. Pass a fresh unguessable ``state`` and check it with :func:`parse_callback`.
    """
    if response_type not in ("code", "token"):
        raise UsageError(f"response_type must be 'code' or 'token', got {response_type!r}")
    if layout is not None and layout not in LAYOUTS:
        raise UsageError(f"layout must be one of w, m, a; got {layout!r}")
    if not isinstance(redirect_uri, str) or not redirect_uri:
        raise UsageError("redirect_uri is required (it must match one registered for the app)")
    params = [("client_id", _client_id(app_id)), ("scope", join_scope(scope)),
              ("response_type", response_type), ("redirect_uri", redirect_uri)]
    if layout is not None:
        params.append(("layout", layout))
    if state is not None:
        params.append(("state", state))
    return f"{(endpoints or Endpoints()).authorize_url}?{urlencode(params)}"


def _check_state(expected: str | None, received: str | None) -> None:
    if expected is None:
        return
    if received is None or not hmac.compare_digest(expected.encode(), received.encode()):
        raise StateMismatchError()


def _callback_params(url: str) -> tuple[dict[str, str], dict[str, str]]:
    parts = urlsplit(url) if "://" in url or url.startswith("/") else None
    if parts is not None:
        query, fragment = parts.query, parts.fragment
    else:
        query, _, fragment = url.lstrip("?").partition("#")
    return dict(parse_qsl(query, keep_blank_values=True)), dict(parse_qsl(fragment, keep_blank_values=True))


def parse_callback(url: str, *, expected_state: str | None) -> str:
    """The ``code`` from the redirect OK sent the browser to, after checking ``state``.

    ``url`` is the full callback URL (or just its query). Errors come as ``error`` /
    ``error_description`` in the query, or in the fragment (the dialog's cancel link is
    ``{redirect_uri}#error=access_denied``): raised as :class:`OAuthError`. A ``state`` other
    than ``expected_state`` (compared in constant time) raises :class:`StateMismatchError`.
    """
    if not isinstance(url, str):
        raise UsageError("parse_callback needs the callback URL as a str")
    query, fragment = _callback_params(url)
    for params in (query, fragment):
        if "error" in params:
            _check_state(expected_state, params.get("state", query.get("state")))
            raise OAuthError(params["error"] or "unknown_error", params.get("error_description"))
    _check_state(expected_state, query.get("state"))
    code = query.get("code")
    if not code:
        raise OAuthError("invalid_callback", "the callback has neither a code nor an error")
    return code


def _need_secret(app_secret_key: Secret | str | None) -> str:
    secret = reveal(app_secret_key)
    if not secret:
        raise UsageError("this grant needs the app's secret key (app_secret_key); it is empty")
    return secret


def prepare_code_exchange(
    app_id: int | str, app_secret_key: Secret | str, code: str, redirect_uri: str,
    endpoints: Endpoints | None = None,
) -> Request:
    """POST ``{api}/oauth/token.do`` exchanging an authorization code (docs/protocol.md §3.1).

    ``client_secret`` is the raw app secret (not the derived one: a bug seen in a peer).
    """
    secret = _need_secret(app_secret_key)
    if not code:
        raise UsageError("the authorization code is empty")
    body = form_encode([("code", code), ("client_id", _client_id(app_id)), ("client_secret", secret),
                        ("redirect_uri", redirect_uri), ("grant_type", "authorization_code")])
    return Request("POST", (endpoints or Endpoints()).token_url, _FORM, body.encode("ascii"))


def prepare_refresh(
    app_id: int | str, app_secret_key: Secret | str, refresh_token: Secret | str,
    endpoints: Endpoints | None = None,
) -> Request:
    """POST ``{api}/oauth/token.do`` with ``grant_type=refresh_token`` (docs/protocol.md §3.4)."""
    secret = _need_secret(app_secret_key)
    if not reveal(refresh_token):
        raise UsageError("the refresh token is empty")
    body = form_encode([("refresh_token", reveal(refresh_token)), ("client_id", _client_id(app_id)),
                        ("client_secret", secret), ("grant_type", "refresh_token")])
    return Request("POST", (endpoints or Endpoints()).token_url, _FORM, body.encode("ascii"))


def _expires_in(value: object, what: str) -> int | None:
    # OK sends "1800" as a JSON string, sometimes omits it (docs/protocol.md §3.1).
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ProtocolError(f"{what}: expires_in is a boolean")
    try:
        number: int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON Infinity / 1e400
        raise ProtocolError(f"{what}: expires_in {excerpt(str(value), 20)!r} is not a number") from None
    if number < 0:
        raise ProtocolError(f"{what}: expires_in is negative")
    return number


def _str_field(payload: Mapping[str, Any], key: str, what: str, *, required: bool) -> str | None:
    value = payload.get(key)
    if value is None or value == "":
        if required:
            raise ProtocolError(f"{what}: the reply has no {key}")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ProtocolError(f"{what}: {key} is a {type(value).__name__}, not a string")
    return str(value)


def _secret_field(payload: Mapping[str, Any], key: str, what: str, *, required: bool) -> Secret | None:
    value = _str_field(payload, key, what, required=required)
    return None if value is None else Secret(value)


def parse_token_response(
    response: Response, now: float, *, previous: Token | None = None, what: str = "oauth/token.do",
) -> Token:
    """The :class:`Token` from a token.do reply (code or refresh grant).

    OK returns no new refresh token on refresh: the one in ``previous`` is kept. JSON
    ``{"error", "error_description"}`` raises :class:`OAuthError`; OK's HTML pages (HTTP 400
    "Provide OAUTH request parameters!", or HTTP 200 "Error : Failed to convert value...")
    raise :class:`ProtocolError` quoting the page title.
    """
    if response.status >= 500:
        # Checked before the content type: a 502 HTML page from a proxy is worth a retry.
        raise HTTPStatusError(f"{what}: OK.ru answered HTTP {response.status} ({describe_body(response)})",
                              method=what, status=response.status, response=response)
    ctype = (response.header("content-type") or "").lower()
    if "html" in ctype:
        raise ProtocolError(f"{what}: expected JSON, got an HTML page ({describe_body(response)})",
                            method=what, status=response.status, response=response)
    payload = parse_json_body(response, what)
    if not isinstance(payload, dict):
        if response.status != 200:
            raise ProtocolError(f"{what}: HTTP {response.status} without a JSON error ({describe_body(response)})",
                                method=what, status=response.status, response=response)
        raise ProtocolError(f"{what}: expected a JSON object, got {type(payload).__name__}",
                            method=what, status=response.status, response=response)
    if "error" in payload:
        error = payload.get("error")
        desc = payload.get("error_description")
        raise OAuthError(str(error) if error else "unknown_error", str(desc) if desc is not None else None)
    if "error_code" in payload:
        raise api_error_from_payload(payload, what)
    if response.status != 200:
        raise ProtocolError(f"{what}: unexpected HTTP {response.status}", method=what,
                            status=response.status, response=response)
    access_token = _secret_field(payload, "access_token", what, required=True)
    assert access_token is not None
    expires_in = _expires_in(payload.get("expires_in"), what)
    refresh = _secret_field(payload, "refresh_token", what, required=False)
    if refresh is None and previous is not None:
        refresh = previous.refresh_token
    return Token(
        access_token=access_token,
        refresh_token=refresh,
        token_type=_str_field(payload, "token_type", what, required=False),
        expires_in=expires_in,
        expires_at=None if expires_in is None else now + expires_in,
        permissions_granted=(previous.permissions_granted if previous is not None else None),
        state=previous.state if previous is not None else None,
        uid=previous.uid if previous is not None else None,
    )


def prepare_password_login(
    app_key: str, login: str, password: Secret | str, endpoints: Endpoints | None = None,
) -> Request:
    """The unsigned ``auth.login`` call (docs/protocol.md §3.3), POSTed to keep the password out of URLs."""
    if not login or not reveal(password):
        raise UsageError("auth.login needs a login and a password")
    body = form_encode([("application_key", app_key), ("format", "json"), ("method", "auth.login"),
                        ("password", reveal(password)), ("user_name", login),
                        ("verification_supported", "1"), ("verification_supported_v", "1")])
    return Request("POST", (endpoints or Endpoints()).rest_url, _FORM, body.encode("ascii"))


def parse_password_login(response: Response, now: float) -> Token:
    """The :class:`Token` from ``auth.login``: ``session_key`` is the access token, used with
    ``session_secret_key`` (client-server circuit). 401/402/403 raise distinct typed errors
    (:class:`~okru_proto.errors.AuthLoginError`, :class:`~okru_proto.errors.CaptchaRequiredError`,
    :class:`~okru_proto.errors.HumanCheckRequiredError`)."""
    payload = parse_call_response(response, "auth.login")
    if not isinstance(payload, dict):
        raise ProtocolError(f"auth.login: expected a JSON object, got {type(payload).__name__}",
                            method="auth.login", status=response.status, response=response)
    session_key = _secret_field(payload, "session_key", "auth.login", required=True)
    assert session_key is not None
    expires_in = _expires_in(payload.get("expires_in"), "auth.login")
    return Token(
        access_token=session_key,
        session_secret_key=_secret_field(payload, "session_secret_key", "auth.login", required=True),
        token_type="session",
        expires_in=expires_in,
        expires_at=None if expires_in is None else now + expires_in,
        uid=_str_field(payload, "uid", "auth.login", required=False),
        api_server=_str_field(payload, "api_server", "auth.login", required=False),
    )


def parse_fragment_token(fragment: str, now: float, *, expected_state: str | None) -> Token:
    """The :class:`Token` in the implicit grant's redirect fragment (docs/protocol.md §3.2):
    ``access_token``, ``session_secret_key``, ``expires_in``, ``permissions_granted``, ``state``,
    or ``error``."""
    params = dict(parse_qsl(fragment.lstrip("#"), keep_blank_values=True))
    if "error" in params:
        raise OAuthError(params["error"] or "unknown_error", params.get("error_description"))
    _check_state(expected_state, params.get("state"))
    what = "implicit grant redirect"
    access_token = _secret_field(params, "access_token", what, required=True)
    assert access_token is not None
    expires_in = _expires_in(params.get("expires_in"), what)
    return Token(
        access_token=access_token,
        session_secret_key=_secret_field(params, "session_secret_key", what, required=False),
        refresh_token=_secret_field(params, "refresh_token", what, required=False),
        token_type=params.get("token_type") or "session",
        expires_in=expires_in,
        expires_at=None if expires_in is None else now + expires_in,
        permissions_granted=params.get("permissions_granted"),
        state=params.get("state"),
    )


def code_flow(
    app_id: int | str, app_secret_key: Secret | str, code: str, redirect_uri: str,
    endpoints: Endpoints | None, now: float,
) -> Flow[Token]:
    """Exchange an authorization code for a token (errors scrubbed of the code and secret)."""
    return guarded(_code_flow(app_id, app_secret_key, code, redirect_uri, endpoints, now), (app_secret_key, code))


def _code_flow(
    app_id: int | str, app_secret_key: Secret | str, code: str, redirect_uri: str,
    endpoints: Endpoints | None, now: float,
) -> Flow[Token]:
    response = yield prepare_code_exchange(app_id, app_secret_key, code, redirect_uri, endpoints)
    return parse_token_response(response, now)


def refresh_flow(
    app_id: int | str, app_secret_key: Secret | str, token: Token | Secret | str,
    endpoints: Endpoints | None, now: float,
) -> Flow[Token]:
    """Refresh a token; the result keeps the old refresh token (OK sends none)."""
    previous = token if isinstance(token, Token) else Token(access_token=Secret(""), refresh_token=Secret(reveal(token)))
    return guarded(_refresh_flow(app_id, app_secret_key, previous, endpoints, now),
                   (app_secret_key, previous.refresh_token, previous.access_token, previous.session_secret_key))


def _refresh_flow(
    app_id: int | str, app_secret_key: Secret | str, previous: Token, endpoints: Endpoints | None, now: float,
) -> Flow[Token]:
    if previous.refresh_token is None:
        raise UsageError("no refresh token to refresh with")
    response = yield prepare_refresh(app_id, app_secret_key, previous.refresh_token, endpoints)
    return parse_token_response(response, now, previous=previous)


def password_flow(
    app_key: str, login: str, password: Secret | str, endpoints: Endpoints | None, now: float,
) -> Flow[Token]:
    """The password grant via the unofficial ``auth.login`` method."""
    return guarded(_password_flow(app_key, login, password, endpoints, now), (password,))


def _password_flow(
    app_key: str, login: str, password: Secret | str, endpoints: Endpoints | None, now: float,
) -> Flow[Token]:
    response = yield prepare_password_login(app_key, login, password, endpoints)
    return parse_password_login(response, now)
