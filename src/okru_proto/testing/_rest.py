"""The REST gate: everything that decides whether a REST call reaches its method lives here.

In OK's order (docs/protocol.md §2, §4): the method name (100), ``auth.login`` let through unsigned
(§3.3), the application key (101), the method (3), the signature's presence (104), the token
(103 unknown, 102 expired), the signature itself (104), the session rule of the method (451,
453), the long token's sliding extension (§3.5) and the method's scopes (10). Both endpoints
come here: ``/fb.do?method=group.name`` and ``/api/group/name`` (§1.1).
"""

from __future__ import annotations

from .._errors import UsageError
from .._values import Response
from .._wire.sign import canonical_string, server_secret, sign
from ._api_errors import ApiFail, answer, permission_denied
from ._call import CallContext
from ._http import Incoming, api_error
from ._methods import METHODS
from ._model import AccessToken, App
from ._store import Store
from ._token import auth_login

__all__ = ["rest", "rest_name"]


def rest_name(path: str, params: dict[str, str]) -> str | None:
    """The REST method a request calls (``""`` when ``/fb.do`` names none), or None if not REST."""
    if path == "/fb.do":
        return params.get("method", "")
    if path.startswith("/api/") and path.count("/") == 3:
        # /api/<group>/<method>: no "method" parameter, nothing of it is signed (§1.1).
        _, _, group, name = path.split("/")
        return f"{group}.{name}"
    return None


def rest(fake: Store, incoming: Incoming, name: str) -> Response:
    params = incoming.params
    if not name:
        return api_error(100, "Missed required parameter: method")
    if name == "auth.login":
        # Sent unsigned by every client that uses it (docs/protocol.md §3.3).
        return answer(lambda: auth_login(fake, incoming))
    try:
        app = fake.app_of_call(params)
    except ApiFail as fail:
        return fail.response()
    spec = METHODS.get(name)
    if spec is None:
        return api_error(3, f"Method {name} does not exist")
    token_text = params.get("access_token") or params.get("session_key")
    received = params.get("sig")
    if not received:
        return api_error(104, "No signature specified")
    token: AccessToken | None = None
    if token_text:
        token = fake.tokens.get(token_text)
        if token is None or token.app_id != app.app_id or token.revoked:
            return api_error(103, "Invalid session key")
        if token.expires_at <= fake.now:
            return api_error(102, "Session expired")
    failure = _check_signature(params, received, app, token)
    if failure is not None:
        return failure
    # Session rules after the signature, so a correctly signed call always gets past 104.
    if spec.session == "prohibited" and token is not None:
        return api_error(451, "Session key given for method that must be called without session")
    if spec.session == "required" and token is None:
        return api_error(453, "Session key is required for this method")
    if token is not None and token.long:
        # Sliding 30-day extension, at most once per day (docs/protocol.md §3.5).
        fake.slide(token)
    if token is not None:
        for scope in spec.scopes:
            if scope not in token.scopes:
                return permission_denied(scope).response()
    ctx = CallContext(fake, incoming, app, token, fake.users.get(token.uid) if token else None)
    return answer(lambda: spec.func(ctx))


def _check_signature(
    params: dict[str, str], received: str, app: App, token: AccessToken | None
) -> Response | None:
    secrets: list[str] = []
    if token is None:
        secrets.append(app.app_secret_key)  # session-less call (§2.2)
    else:
        secrets.append(server_secret(token.token, app.app_secret_key).reveal())
        if token.session_secret_key:
            secrets.append(token.session_secret_key)
    variants: list[dict[str, str]] = [params]
    without_session_key = {k: v for k, v in params.items() if k != "session_key"}
    if "session_key" in params:
        # SDKs sign session_key, the docs say drop it: accept both (TV-4b, TV-8, §2.3).
        variants.append(without_session_key)
    for variant in variants:
        for secret in secrets:
            try:
                # Strict: OK documents lower-case hex (§2.6); upper-case is rejected here.
                if sign(variant, secret) == received:
                    return None
            except UsageError:
                pass
    # The message shows the string OK signed with the secret masked (§2.6); tokens never
    # appear in it (access_token is unsigned, session_key is left out of the shown string).
    try:
        shown = canonical_string(without_session_key)
    except UsageError:
        shown = ""
    return api_error(
        104, f"Invalid signature {received}, calculated by string {shown}********SECRET KEY*******"
    )
