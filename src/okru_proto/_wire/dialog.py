"""The implicit grant through OK's login and permission dialogs, as a browser would do it.

docs/protocol.md §3.2 and §3.6: GET ``{connect}/oauth/authorize?...response_type=token``, follow
redirects (relative and absolute ``Location``), keep cookies per host, fill the login form
(``fr.email``/``fr.password``), accept the permissions form (``button_accept_request``), until a
``Location`` points at the redirect URI; the token is in its fragment. The redirect URI itself is
never requested. The redirects, cookies and forms are the core's business: adapters send exactly
the requests given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

from .._errors import BadCredentialsError, DialogError, OAuthError, ProtocolError, UsageError
from .._flow import Flow, guarded
from .._scrub import secret_forms
from .._values import Endpoints, Request, Response, Secret, Token, _is_loopback, reveal
from .oauth import (
    DEFAULT_IMPLICIT_REDIRECT_URI,
    authorize_url,
    parse_fragment_token,
    parse_token_response,
)
from .rest import FORM_CONTENT_TYPE, describe_body, form_encode

__all__ = ["MAX_DIALOG_STEPS", "CookieJar", "Form", "implicit_flow", "parse_forms"]

#: Every dialog loop is bounded: a real run takes 4 to 6 steps.
MAX_DIALOG_STEPS = 12
_MAX_PAGE_BYTES = 2_000_000
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass
class Form:
    """One ``<form>`` of a page: its action, method and the fields a browser would submit."""

    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    #: names of inputs by type, e.g. ``{"password": ["fr.password"]}``
    types: dict[str, list[str]] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)

    def names(self) -> set[str]:
        return {name for name, _ in self.fields} | {name for name, _ in self.buttons}


class _FormParser(HTMLParser):
    """Collects forms with the standard library's tolerant parser (any attribute order or case,
    any nesting, unclosed tags)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._current: Form | None = None
        self._in_button: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._current = Form(action=a.get("action", ""), method=(a.get("method") or "get").upper())
            self.forms.append(self._current)
            return
        form = self._current
        if form is None:
            return
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            name = a.get("name")
            if not name:
                return
            form.types.setdefault(kind, []).append(name)
            if kind in ("submit", "image", "button", "reset", "file"):
                if kind == "submit":
                    form.buttons.append((name, a.get("value", "")))
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            form.fields.append((name, a.get("value", "on" if kind in ("checkbox", "radio") else "")))
        elif tag == "button":
            name = a.get("name")
            if name and (a.get("type") or "submit").lower() == "submit":
                form.buttons.append((name, a.get("value", "")))
        elif tag in ("select", "textarea"):
            name = a.get("name")
            if name:
                form.fields.append((name, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def parse_forms(html: str) -> list[Form]:
    """Every form in ``html`` (tolerant: never raises on malformed markup)."""
    parser = _FormParser()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # pragma: no cover - html.parser is lenient
        pass
    return parser.forms


_DATE_FORMATS = ("%a, %d %b %Y %H:%M:%S GMT", "%a, %d-%b-%Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT")


def _http_date(text: str) -> float:
    # email.utils would do, but it imports socket; the core imports nothing that does I/O.
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    raise ValueError(text)


class CookieJar:
    """Host-only cookies: each is sent back only to the exact host that set it.

    ``Domain`` is deliberately ignored (host-only is the stricter reading), so login cookies
    set by ``connect.ok.ru`` never travel anywhere else.
    """

    def __init__(self) -> None:
        self._jar: dict[str, dict[str, str]] = {}

    def store(self, host: str, response: Response, now: float) -> None:
        for header in response.header_values("set-cookie"):
            name_value, *attributes = header.split(";")
            name, sep, value = name_value.partition("=")
            name = name.strip()
            if not sep or not name:
                continue
            delete = False
            for attribute in attributes:
                key, _, arg = attribute.strip().partition("=")
                key = key.lower()
                if key == "max-age":
                    try:
                        delete = int(arg.strip()) <= 0
                    except ValueError:
                        pass
                elif key == "expires":
                    try:
                        expires = _http_date(arg.strip())
                    except (ValueError, OverflowError):
                        continue
                    delete = expires <= now
            cookies = self._jar.setdefault(host, {})
            if delete:
                cookies.pop(name, None)
            else:
                cookies[name] = value.strip().strip('"')

    def header(self, host: str) -> str | None:
        cookies = self._jar.get(host)
        if not cookies:
            return None
        return "; ".join(f"{k}={v}" for k, v in cookies.items())

    def hosts(self) -> list[str]:
        return [host for host, cookies in self._jar.items() if cookies]

    def __repr__(self) -> str:
        return f"CookieJar(hosts={self.hosts()!r})"


def _st_cmd(url: str) -> str | None:
    params = dict(parse_qsl(urlsplit(url).query))
    return params.get("st.cmd") or params.get("cmd")


def _same_target(url: str, redirect_uri: str) -> bool:
    a, b = urlsplit(url), urlsplit(redirect_uri)
    return (a.scheme, a.netloc.lower(), a.path or "/") == (b.scheme, b.netloc.lower(), b.path or "/")


def _host(url: str) -> str:
    return urlsplit(url).netloc.lower()


def _insecure(url: str) -> bool:
    """Not https, and not plain http to a loopback host (the rule of ``Endpoints``): a redirect
    or form that downgrades to http:// would send the password and cookies in clear text."""
    parts = urlsplit(url)
    return not (parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname or "")))


def _request(method: str, url: str, jar: CookieJar, body: bytes = b"") -> Request:
    parts = urlsplit(url)
    if parts.netloc != parts.netloc.lower():
        # Host names are case-insensitive; send (and scope cookies to) the canonical spelling,
        # as a browser does.
        url = urlunsplit(parts._replace(netloc=parts.netloc.lower()))
    headers = [("accept", "text/html,application/json")]
    cookie = jar.header(_host(url))
    if cookie:
        headers.append(("cookie", cookie))
    if method == "POST":
        headers.append(("content-type", FORM_CONTENT_TYPE))
    return Request(method, url, tuple(headers), body)


def _page_text(response: Response, url: str) -> str:
    if len(response.body) > _MAX_PAGE_BYTES:
        raise ProtocolError(f"OK.ru dialog page at {_host(url)} is larger than {_MAX_PAGE_BYTES} bytes",
                            status=response.status, response=response)
    return response.body.decode("utf-8", "replace")


def _login_form(forms: Iterable[Form]) -> Form | None:
    for form in forms:
        names = form.names()
        if "fr.password" in names or "fr.email" in names:
            return form
    return None


def _permission_form(forms: Iterable[Form]) -> Form | None:
    for form in forms:
        if "button_accept_request" in form.names() or "OAuth2Permissions" in form.action:
            return form
    return None


def implicit_flow(
    app_id: int | str,
    login: str,
    password: Secret | str,
    *,
    scope: str | Iterable[str] | None = ("VALUABLE_ACCESS",),
    redirect_uri: str = DEFAULT_IMPLICIT_REDIRECT_URI,
    state: str | None = None,
    layout: str = "w",
    endpoints: Endpoints | None = None,
    now: float,
) -> Flow[Token]:
    """The implicit grant, walking OK's dialogs; returns the token from the redirect fragment.

    Raises :class:`BadCredentialsError` when the login form comes back, :class:`DialogError`
    naming OK's ``st.cmd`` for a page it cannot pass (captcha, phone check), a foreign host or
    too many steps; :class:`OAuthError` for an ``error`` in the redirect (``access_denied``).
    Every error is scrubbed of the password and the login cookies (:func:`~okru_proto.adapter.guarded`).
    """
    return guarded(_implicit_flow(app_id, login, password, scope=scope, redirect_uri=redirect_uri, state=state,
                                  layout=layout, endpoints=endpoints, now=now), (password,))


def _implicit_flow(
    app_id: int | str,
    login: str,
    password: Secret | str,
    *,
    scope: str | Iterable[str] | None,
    redirect_uri: str,
    state: str | None,
    layout: str,
    endpoints: Endpoints | None,
    now: float,
) -> Flow[Token]:
    if not login or not reveal(password):
        raise UsageError("the implicit grant needs a login and a password")
    endpoints = endpoints or Endpoints()
    url = authorize_url(app_id, redirect_uri=redirect_uri, scope=scope, state=state, layout=layout,
                        response_type="token", endpoints=endpoints)
    # Credentials and cookies go only to OK's own dialog hosts, never to a host a redirect
    # or a form action points at (a phishing page would otherwise get the password).
    allowed_hosts = {_host(endpoints.connect), _host(endpoints.api)}
    # OK never puts the password in a URL; a page that does (echoing the login POST) would have
    # us send it in a request line, which transports log (httpx logs every URL at INFO).
    password_forms = secret_forms([password])
    jar = CookieJar()
    request = _request("GET", url, jar)
    logged_in = False
    accepted = False
    for _ in range(MAX_DIALOG_STEPS):
        response: Response = yield request
        jar.store(_host(request.url), response, now)
        status = response.status
        if status in _REDIRECTS:
            location = response.header("location")
            if not location:
                raise ProtocolError(f"OK.ru dialog: HTTP {status} without a Location header",
                                    status=status, response=response)
            try:
                target = urljoin(request.url, location.strip())
            except ValueError as exc:  # e.g. an unclosed "[" of an IPv6 host
                raise ProtocolError(f"OK.ru dialog: HTTP {status} with an invalid Location header ({exc})",
                                    status=status, response=response) from exc
            if _same_target(target, redirect_uri):
                fragment = urlsplit(target).fragment
                query = dict(parse_qsl(urlsplit(target).query))
                if not fragment and "error" in query:
                    raise OAuthError(query["error"], query.get("error_description"))
                return parse_fragment_token(fragment, now, expected_state=state)
            parts = urlsplit(target)
            if "@" in parts.netloc:
                raise _userinfo_refused("redirected to", target)
            if _insecure(target) and parts.scheme == "http" and _host(target) in allowed_hosts:
                raise DialogError(f"the dialog redirected to plain http:// at {parts.netloc!r}; refused "
                                  "(credentials and cookies travel only over https)", st_cmd=_st_cmd(target))
            if _insecure(target) or _host(target) not in allowed_hosts:
                raise DialogError(f"the dialog redirected to a foreign host {parts.netloc or target[:40]!r}; "
                                  "refused (credentials and cookies stay with OK.ru)", st_cmd=_st_cmd(target))
            if _carries(target, password_forms):
                raise DialogError("the dialog redirected to a URL holding the password; refused")
            if status in (307, 308) and request.method == "POST":
                request = _request("POST", target, jar, request.body)  # type: ignore[arg-type]  # a form, bytes
            else:
                request = _request("GET", target, jar)
            continue
        ctype = (response.header("content-type") or "").lower()
        if status == 401 or ("json" in ctype and status < 500):
            # authorize answers JSON errors (e.g. HTTP 401 for an unknown app, AIO-OLD)
            parse_token_response(response, now, what="oauth/authorize")
            raise ProtocolError("oauth/authorize: unexpected JSON reply without a token", status=status,
                                response=response)
        if status != 200:
            raise ProtocolError(f"OK.ru dialog: unexpected reply ({describe_body(response)})",
                                status=status, response=response)
        forms = parse_forms(_page_text(response, request.url))
        st_cmd = _st_cmd(request.url)
        login_form = _login_form(forms)
        if login_form is not None:
            if logged_in:
                raise BadCredentialsError()
            logged_in = True
            fields = [(k, v) for k, v in login_form.fields if k not in ("fr.email", "fr.password")]
            fields += [("fr.email", login), ("fr.password", reveal(password))]
            request = _submit(login_form, request.url, fields, jar, allowed_hosts, password_forms)
            continue
        permission_form = _permission_form(forms)
        if permission_form is not None:
            if accepted:
                raise DialogError("the permissions page came back after it was accepted", st_cmd=st_cmd)
            accepted = True
            fields = [*permission_form.fields, ("button_accept_request", "")]
            request = _submit(permission_form, request.url, fields, jar, allowed_hosts, password_forms)
            continue
        raise DialogError(
            f"OK.ru showed a page okru cannot pass (st.cmd={st_cmd or 'unknown'}); "
            "log in through a browser once, then retry", st_cmd=st_cmd)
    raise DialogError(f"the dialog did not finish within {MAX_DIALOG_STEPS} steps")


def _userinfo_refused(what: str, url: str) -> ProtocolError:
    # The host after the last "@" is what a browser would contact; the userinfo (a password?)
    # is never repeated.
    host = urlsplit(url).netloc.rpartition("@")[2]
    return ProtocolError(f"OK.ru dialog {what} a URL with a user name or password (***@{host}); "
                         "refused, OK.ru's dialogs use none")


def _carries(url: str, forms: tuple[str, ...]) -> bool:
    return any(form in url for form in forms)


def _submit(form: Form, page_url: str, fields: list[tuple[str, str]], jar: CookieJar,
            allowed_hosts: set[str], password_forms: tuple[str, ...]) -> Request:
    target = urljoin(page_url, form.action or page_url)
    if _carries(target, password_forms):
        raise DialogError("a dialog form's address holds the password; refused", st_cmd=None)
    if "@" in urlsplit(target).netloc:
        raise _userinfo_refused("has a form posting to", target)
    if _insecure(target) or _host(target) not in allowed_hosts:
        where = "plain http:// at" if _host(target) in allowed_hosts else "a foreign host"
        raise DialogError(f"a dialog form posts to {where} {_host(target)!r}; refused",
                          st_cmd=_st_cmd(page_url))
    body = form_encode(fields).encode("ascii")
    if form.method == "GET":
        url = f"{target.split('?')[0]}?{body.decode()}"
        if _carries(url, password_forms):
            # OK's login form is a POST; a GET one would put the password in the request line.
            raise DialogError("a dialog login form would send the password in the URL (method GET); refused",
                              st_cmd=_st_cmd(page_url))
        return _request("GET", url, jar)
    return _request("POST", target, jar, body)
