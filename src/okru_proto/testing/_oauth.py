"""OAuth 2.0 in the browser: ``/oauth/authorize``, the ``/dk`` dialogs and redirect URI rules.

Everything that affects a browser grant lives here: which redirect URIs an app accepts, the
login and permission dialogs of the aiookru fixtures (docs/protocol.md §3.6) and their pages, the
dialog cookie, and the final redirect with a code or a token (§3.1, §3.2). ``token.do`` and
``auth.login`` are in ``_token``.

The pages are also meant for people trying the emulator in a browser: they name the app (from
the emulator's app table), describe each requested scope (:data:`SCOPE_DESCRIPTIONS`) and label
every control, while the forms keep the aiookru fixtures' shape (fields, hidden inputs, buttons).
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote, urlencode, urlsplit

from .._values import Response, _is_loopback
from ._http import (
    Incoming,
    html_page,
    html_response,
    oauth_error,
    redirect,
)
from ._model import App, DialogSession, User
from ._store import Store

__all__ = ["COOKIE_NAME", "authorize", "dialog", "redirect_allowed"]

#: The dialog's login cookie (host-only, as a browser would scope it).
COOKIE_NAME = "AUTHCODE"
_OAUTH_KEYS = ("client_id", "scope", "response_type", "redirect_uri", "layout", "state")


def _strip_query(uri: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        port = -1
    return parts.scheme.lower(), (parts.hostname or "").lower(), port, parts.path


def redirect_allowed(app: App, redirect_uri: str) -> bool:
    """Registered URIs match exactly, the query ignored (DOC-SERVER ru, docs/protocol.md §3.1).

    For loopback hosts the port is ignored (RFC 8252 §7.3); an app created with
    ``loopback_redirects=True`` (the demo app) accepts any http loopback URI.
    """
    if not redirect_uri or "#" in redirect_uri:
        return False
    try:
        scheme, host, port, path = _strip_query(redirect_uri)
    except ValueError:
        return False
    if port == -1 or not scheme:
        return False
    loopback = scheme == "http" and _is_loopback(host)
    if loopback and app.loopback_redirects:
        return True
    for registered in app.redirect_uris:
        r_scheme, r_host, r_port, r_path = _strip_query(registered)
        if (r_scheme, r_host, r_path) != (scheme, host, path):
            continue
        if r_port == port or loopback:
            return True
    return False


def _scopes(raw: str) -> list[str]:
    # Joined with ";" (§3.1); "," tolerated, as some clients send it.
    return [s for s in raw.replace(",", ";").split(";") if s.strip()]


#: What the permission page says for each scope (docs/protocol.md §6 lists them; the wording is
#: the emulator's own). Unknown scopes are shown by their name.
SCOPE_DESCRIPTIONS: dict[str, str] = {
    "VALUABLE_ACCESS": "Основные данные профиля и большинство методов API",
    "LONG_ACCESS_TOKEN": "Долгий доступ: 30 дней, продлевается при использовании",
    "PHOTO_CONTENT": "Фотографии и фотоальбомы",
    "GROUP_CONTENT": "Группы",
    "VIDEO_CONTENT": "Видео",
    "APP_INVITE": "Приглашение друзей в приложение",
    "GET_EMAIL": "Адрес электронной почты",
    "SET_STATUS": "Установка статуса",
    "MESSAGING": "Сообщения",
    "PUBLISH_NOTE": "Публикация заметок",
    "PUBLISH_TO_STREAM": "Публикация в ленту",
    "LIKE": "Отметки «Класс!»",
}

# Looks only: the form markup itself keeps OK's shape (field names, ids, buttons).
_STYLE = (
    "<style>body{font-family:Arial,sans-serif;background:#f5f5f5;margin:0}"
    ".okru-dialog{background:#fff;max-width:26em;margin:3em auto;padding:1.5em 2em;"
    "border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.2)}"
    ".okru-dialog h1{font-size:1.3em;color:#ee8208;margin-top:0}"
    ".okru-dialog label{display:block;margin:.8em 0 .2em}"
    ".okru-dialog input[type=text],.okru-dialog input[type=password]{width:100%;padding:.4em;box-sizing:border-box}"
    ".okru-dialog label.inline{display:inline;margin-left:.3em}"
    ".button-pro{background:#ee8208;color:#fff;border:0;border-radius:4px;padding:.5em 1.5em;"
    "margin:1em 1em 0 0;font-size:1em}"
    ".input-e{color:#c00;margin:.5em 0}.scopes li{margin:.3em 0}.scope-name{color:#888;font-size:.85em}</style>"
)


def _scope_item(name: str) -> str:
    description = SCOPE_DESCRIPTIONS.get(name.strip().upper().replace(" ", "_"))
    if description is None:
        return f"<li>{escape(name)}</li>"
    return f'<li>{escape(description)} <span class="scope-name">({escape(name)})</span></li>'


# -- authorize and dialogs -----------------------------------------------------------------------

class _Pending:
    """The OAuth request a dialog works on, validated."""

    def __init__(self, app: App, values: dict[str, str]) -> None:
        self.app = app
        self.values = values

    @property
    def redirect_uri(self) -> str:
        return self.values["redirect_uri"]

    def st_query(self) -> str:
        return urlencode([(f"st.{k}", v) for k, v in self.values.items()])


def _validate(fake: Store, values: dict[str, str]) -> _Pending | Response:
    """Check an OAuth request. Errors: HTTP 400 JSON ``{"error", "error_description"}`` (the
    real status is undocumented, docs/protocol.md §3.1; AIO expects a JSON body on errors, §3.6)."""

    def error(kind: str, text: str) -> Response:
        return oauth_error(400, kind, text)

    client_id = values.get("client_id", "")
    app = fake.apps.get(client_id) if client_id.isdigit() else None
    if app is None:
        return error("invalid_request", f"Invalid client_id {client_id!r}")
    if not redirect_allowed(app, values.get("redirect_uri", "")):
        return error("invalid_request", "redirect_uri is not registered for this application")
    response_type = values.get("response_type", "")
    if response_type not in ("code", "token"):
        return error("unsupported_response_type", f"Unsupported response_type {response_type!r}")
    if response_type == "token" and not app.client_oauth:
        # The implicit grant needs "Client OAuth" in the app settings (§3.2).
        return error("unauthorized_client", "Client OAuth is disabled for this application")
    return _Pending(app, {k: values[k] for k in _OAUTH_KEYS if k in values})


def _session(fake: Store, incoming: Incoming) -> tuple[DialogSession, User] | None:
    session = fake.dialog_sessions.get(incoming.cookies.get(COOKIE_NAME, ""))
    if session is None or session.uid not in fake.users:
        return None
    return session, fake.users[session.uid]


def _requested(fake: Store, pending: _Pending) -> frozenset[str]:
    return fake.grantable(pending.app, _scopes(pending.values.get("scope", "")))


def _finish(fake: Store, pending: _Pending, user: User) -> Response:
    """The final redirect: ABSOLUTE Location, result in the fragment (token) or query (code)."""
    granted = _requested(fake, pending)
    user.grants.setdefault(pending.app.app_id, set()).update(granted)
    state = pending.values.get("state")
    uri = pending.redirect_uri
    if pending.values["response_type"] == "token":
        token = fake.new_access_token(pending.app, user.uid, granted, with_session_secret=True)
        assert token.session_secret_key is not None
        pairs = [
            ("access_token", token.token),
            ("session_secret_key", token.session_secret_key),
            ("expires_in", fake.expires_in(token)),
            ("permissions_granted", ";".join(sorted(granted))),
        ]
        if state is not None:
            pairs.append(("state", state))
        fragment = "&".join(f"{k}={quote(v, safe=';')}" for k, v in pairs)
        return redirect(f"{uri}#{fragment}")
    code = fake.new_code(pending.app, user.uid, granted, uri)
    query = f"code={quote(code, safe='')}"
    if state is not None:
        query += f"&state={quote(state, safe='')}"
    return redirect(f"{uri}{'&' if '?' in uri else '?'}{query}")


def authorize(fake: Store, incoming: Incoming) -> Response:
    """``GET /oauth/authorize``: to the login page (no cookie), the permission page, or straight
    back to the app when the user already granted every requested scope (DOC-SERVER, §3.1)."""
    checked = _validate(fake, incoming.params)
    if isinstance(checked, Response):
        return checked
    logged_in = _session(fake, incoming)
    if logged_in is None:
        return redirect(f"/dk?st.cmd=OAuth2Login&{checked.st_query()}")
    _, user = logged_in
    if _requested(fake, checked) <= user.grants.get(checked.app.app_id, set()):
        return _finish(fake, checked, user)
    return redirect(f"/dk?st.cmd=OAuth2Permissions&{checked.st_query()}")


def _st_values(incoming: Incoming) -> dict[str, str]:
    return {k[3:]: v for k, v in incoming.query if k.startswith("st.") and k[3:] in _OAUTH_KEYS}


def dialog(fake: Store, incoming: Incoming) -> Response:
    cmd = dict(incoming.query).get("st.cmd", "")
    post = incoming.request.method == "POST"
    if cmd == "OAuth2Login":
        return _login_post(fake, incoming) if post else _login_get(fake, incoming)
    if cmd == "OAuth2Permissions":
        return _permissions_post(fake, incoming) if post else _permissions_get(fake, incoming)
    if cmd == "OAuth2Captcha":
        return html_response(200, _captcha_page())
    return html_response(404, html_page("404", "<h1>Page not found</h1>"))


def _error_page(text: str, status: int = 200) -> Response:
    return html_response(
        status,
        html_page("Ошибка", f'{_STYLE}<div id="hook_Block_OAuth2Error" class="okru-dialog">'
                  f'<h1>Ошибка</h1><div class="error">{escape(text)}</div></div>'),
    )


def _login_page(pending: _Pending, error: str | None = None, email: str = "") -> str:
    # Shape of AIO-OLD tests/data/dialogs/auth_dialog.html (docs/protocol.md §3.6): the same
    # form, fields, hidden input and unnamed submit; the labels point at their inputs.
    action = escape(f"/dk?cmd=OAuth2Login&st.cmd=OAuth2Login&{pending.st_query()}")
    err = f'<div class="input-e login_error" role="alert">{escape(error)}</div>\n' if error else ""
    return html_page(
        "Одноклассники",
        f'{_STYLE}<div id="hook_Block_OAuth2Login" class="okru-dialog">\n'
        f"<h1>Вход через Одноклассники</h1>\n<p>для приложения «{escape(pending.app.name)}»</p>\n{err}"
        f'<form method="post" action="{action}">\n'
        '<input type="hidden" name="fr.posted" value="set">\n'
        '<label for="field_email">Логин, адрес почты или телефон</label>\n'
        f'<input type="text" id="field_email" name="fr.email" value="{escape(email)}" autocomplete="username">\n'
        '<label for="field_password">Пароль</label>\n'
        '<input type="password" id="field_password" name="fr.password" value="" autocomplete="current-password">\n'
        '<p><input type="checkbox" id="field_remember" name="fr.remember" value="on" checked="checked">'
        '<label class="inline" for="field_remember">Запомнить меня</label></p>\n'
        '<input class="button-pro" type="submit" value="Войти">\n'
        "</form></div>",
    )


def _login_get(fake: Store, incoming: Incoming) -> Response:
    checked = _validate(fake, _st_values(incoming))
    if isinstance(checked, Response):
        return _error_page("Invalid OAuth request", 400)
    return html_response(200, _login_page(checked))


def _login_post(fake: Store, incoming: Incoming) -> Response:
    checked = _validate(fake, _st_values(incoming))
    if isinstance(checked, Response):
        return _error_page("Invalid OAuth request", 400)
    form = dict(incoming.form)
    email = form.get("fr.email", "")
    user = fake.user_by_login(email)
    if user is None or user.password != form.get("fr.password", ""):
        # Bad credentials: the login page again, with an error (AIO checks st.cmd, §3.6 step 4).
        page = _login_page(checked, "Неправильно указан логин и/или пароль", email)
        return html_response(200, page)
    if user.captcha or user.human_check:
        return redirect(f"/dk?st.cmd=OAuth2Captcha&{checked.st_query()}")
    cookie = fake.random_string(40)
    fake.dialog_sessions[cookie] = DialogSession(cookie, user.uid, fake.random_string(32))
    set_cookie = ("set-cookie", f"{COOKIE_NAME}={cookie}; Path=/; HttpOnly")
    return redirect(f"/dk?st.cmd=OAuth2Permissions&{checked.st_query()}", extra=(set_cookie,))


def _permissions_page(pending: _Pending, csrf: str, user: User) -> str:
    # Shape of AIO-OLD tests/data/dialogs/access_dialog.html (docs/protocol.md §3.6): the form,
    # its hidden inputs, button_accept_request "Войти", and the cancel link to
    # {redirect_uri}#error=access_denied (a link: the answer travels in the fragment).
    scopes = "".join(_scope_item(s) for s in _scopes(pending.values.get("scope", "")))
    cancel = escape(f"{pending.redirect_uri}#error=access_denied")
    change_user = escape(f"/dk?st.cmd=OAuth2Login&{pending.st_query()}")
    who = escape(f"{user.first_name} {user.last_name}".strip())
    return html_page(
        "Одноклассники",
        f'{_STYLE}<div id="hook_Block_OAuth2Permissions" class="okru-dialog">\n'
        f"<h1>Приложение «{escape(pending.app.name)}» запрашивает доступ</h1>\n"
        f"<p>Вы вошли как {who}. Приложение получит:</p>\n"
        f'<ul class="scopes">{scopes}</ul>\n'
        '<form method="POST" action="/dk?st.cmd=OAuth2Permissions&amp;cmd=OAuth2Permissions">\n'
        '<input type="hidden" name="fr.posted" value="set">\n'
        f'<input type="hidden" name="fr.token" value="{escape(csrf)}">\n'
        '<button class="button-pro" name="button_accept_request">Войти</button>\n'
        f'<a href="{cancel}">Отменить</a>\n'
        "</form>\n"
        f'<p><a href="{change_user}">Сменить пользователя</a></p></div>',
    )


def _permissions_get(fake: Store, incoming: Incoming) -> Response:
    checked = _validate(fake, _st_values(incoming))
    if isinstance(checked, Response):
        return _error_page("Invalid OAuth request", 400)
    logged_in = _session(fake, incoming)
    if logged_in is None:
        return redirect(f"/dk?st.cmd=OAuth2Login&{checked.st_query()}")
    session, user = logged_in
    if _requested(fake, checked) <= user.grants.get(checked.app.app_id, set()):
        # "If the user already granted all requested permissions, the dialog closes" (§3.1).
        return _finish(fake, checked, user)
    # The form's action carries no OAuth params: the pending request lives in the session.
    session.pending = dict(checked.values)
    session.csrf = fake.random_string(32)
    return html_response(200, _permissions_page(checked, session.csrf, user))


def _permissions_post(fake: Store, incoming: Incoming) -> Response:
    logged_in = _session(fake, incoming)
    if logged_in is None or logged_in[0].pending is None:
        return _error_page("Сессия устарела, начните авторизацию заново")
    session, user = logged_in
    form = dict(incoming.form)
    if not session.csrf or form.get("fr.token") != session.csrf:
        return _error_page("Неверный запрос (fr.token)")
    assert session.pending is not None
    checked = _validate(fake, session.pending)
    if isinstance(checked, Response):
        return _error_page("Invalid OAuth request", 400)
    session.csrf = ""  # single use
    session.pending = None
    if "button_accept_request" not in form:
        return redirect(f"{checked.redirect_uri}#error=access_denied")
    return _finish(fake, checked, user)


def _captcha_page() -> str:
    return html_page(
        "Одноклассники",
        f'{_STYLE}<div id="hook_Block_OAuth2Captcha" class="okru-dialog"><h1>Проверка</h1>'
        '<form method="post" action="/dk?st.cmd=OAuth2Captcha&amp;cmd=OAuth2Captcha">'
        '<img src="/captcha?st.cmd=captcha" alt="captcha">'
        '<label for="field_captcha">Введите код с картинки</label>'
        '<input type="text" id="field_captcha" name="fr.captcha"><input type="submit" value="OK"></form></div>',
    )
