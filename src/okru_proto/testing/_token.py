"""Token grants outside the browser: everything that turns credentials into a session lives here.

``POST /oauth/token.do`` with its quirks (code and refresh grants, docs/protocol.md §3.1, §3.4) and
the unofficial password grant ``auth.login`` (§3.3), which is sent unsigned to the REST
endpoint, with the iframe ``auth_sig`` it returns (TV-11). Browser grants (``/oauth/authorize``
and the ``/dk`` dialogs) live in ``_oauth``.
"""

from __future__ import annotations

from hashlib import md5

from .._values import Response
from ._api_errors import ApiFail
from ._http import Incoming, html_response, oauth_error, plain_json, tomcat_error
from ._model import App, normalize_scope
from ._store import Store

__all__ = ["auth_login", "auth_sig", "token_endpoint"]


def _oauth_error(fake: Store, error: str, description: str) -> Response:
    return oauth_error(fake.oauth_error_status, error, description)


# -- token.do ------------------------------------------------------------------------------------

def token_endpoint(fake: Store, incoming: Incoming) -> Response:
    """``POST /oauth/token.do``: code and refresh grants; params from the body and/or query."""
    params = incoming.params
    if not params:
        # Real: empty POST -> Tomcat 400 page (RUBY cassette, docs/protocol.md §3.1).
        return tomcat_error(400, "Provide OAUTH request parameters!")
    client_id = params.get("client_id", "")
    if client_id and not client_id.isdigit():
        # Real: HTTP 200 text/html with Spring's conversion error (§3.1).
        return html_response(
            200, "Error : Failed to convert value of type [java.lang.String] to required type [java.lang.Long]"
        )
    grant_type = params.get("grant_type", "")
    if not client_id:
        return _oauth_error(fake, "invalid_request", "Missing client_id")
    app = fake.apps.get(client_id)
    if app is None or params.get("client_secret") != app.app_secret_key:
        # client_secret is the raw application secret key (§3.1, AIO HEAD).
        return _oauth_error(fake, "invalid_client", "Invalid client credentials")
    if not grant_type:
        return _oauth_error(fake, "invalid_request", "Missing grant_type")
    if grant_type == "authorization_code":
        return _code_grant(fake, app, params)
    if grant_type == "refresh_token":
        return _refresh_grant(fake, app, params)
    return _oauth_error(fake, "unsupported_grant_type", f"Unsupported grant type: {grant_type}")


def _code_grant(fake: Store, app: App, params: dict[str, str]) -> Response:
    code_text = params.get("code", "")
    if not code_text:
        return _oauth_error(fake, "invalid_request", "Missing code")
    code = fake.codes.get(code_text)
    if code is None or code.app_id != app.app_id or code.used:
        return _oauth_error(fake, "invalid_grant", "Invalid authorization code")
    if code.expires_at <= fake.now:  # 2 minutes (§3.1)
        return _oauth_error(fake, "invalid_grant", "Expired authorization code")
    if params.get("redirect_uri", "") != code.redirect_uri:
        return _oauth_error(fake, "invalid_grant", "redirect_uri does not match the authorization request")
    code.used = True
    # Code-grant tokens carry no session secret: the server-server circuit only (§2.2).
    access = fake.new_access_token(app, code.uid, code.scopes, with_session_secret=False)
    refresh = fake.new_refresh_token(app, code.uid, code.scopes)
    return plain_json(
        {
            "access_token": access.token,
            "refresh_token": refresh.token,
            "token_type": "session",
            "expires_in": fake.expires_in(access),  # a JSON string, "1800" (§3.1)
        }
    )


def _refresh_grant(fake: Store, app: App, params: dict[str, str]) -> Response:
    text = params.get("refresh_token", "")
    if not text:
        return _oauth_error(fake, "invalid_request", "Missing refresh_token")
    record = fake.refresh_tokens.get(text)
    if record is None or record.app_id != app.app_id or record.expires_at <= fake.now:
        return _oauth_error(fake, "invalid_grant", "Invalid or expired refresh token")
    access = fake.new_access_token(app, record.uid, record.scopes, with_session_secret=False)
    reply = {"access_token": access.token, "token_type": "session", "expires_in": fake.expires_in(access)}
    if fake.rotate_refresh_tokens:  # opt-in: OK itself sends no new refresh token (§3.4)
        del fake.refresh_tokens[text]
        reply["refresh_token"] = fake.new_refresh_token(app, record.uid, record.scopes).token
    return plain_json(reply)


# -- auth.login ----------------------------------------------------------------------------------

def auth_sig(uid: str, session_key: str, app: App) -> str:
    # md5(logged_user_id + session_key + app secret), the iframe auth_sig (TV-11).
    return md5((uid + session_key + app.app_secret_key).encode("utf-8")).hexdigest()


def auth_login(fake: Store, incoming: Incoming) -> object:
    """The unofficial password grant (docs/protocol.md §3.3): unsigned, returns a session."""
    params = incoming.params
    app = fake.app_of_call(params)
    login = params.get("user_name", "")
    password = params.get("password", "")
    if not login:
        raise ApiFail(100, "Missed required parameter: user_name")
    user = fake.user_by_login(login)
    if user is None or user.password != password:
        raise ApiFail(401, "Invalid login or password")
    if user.captcha:
        raise ApiFail(402, "Captcha required")
    if user.human_check:
        raise ApiFail(403, "Human check required")
    scopes = frozenset(normalize_scope(s) for s in app.permissions) - {"LONG_ACCESS_TOKEN"}
    token = fake.new_access_token(app, user.uid, scopes, with_session_secret=True)
    assert token.session_secret_key is not None
    return {
        "uid": user.uid,
        "session_key": token.token,
        "session_secret_key": token.session_secret_key,
        "api_server": incoming.base_url + "/",
        "auth_sig": auth_sig(user.uid, token.token, app),
        "activated_profile": True,
    }
