"""Helpers for the emulator's tests: build signed requests by docs/protocol.md §2 independently of
the client code, and drive the HTML dialogs like a tiny browser."""

from __future__ import annotations

import json
from hashlib import md5
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

from okru_proto.adapter import Request, Response
from okru_proto.testing import FakeOK

BASE = "https://api.ok.ru"


def md5_hex(text: str) -> str:
    return md5(text.encode("utf-8")).hexdigest()


def signature(params: dict[str, str], secret: str) -> str:
    """docs/protocol.md §2.1: sort by key, k=v joined without separator, + secret, md5 lower hex."""
    signed = {k: v for k, v in params.items() if k not in ("sig", "access_token")}
    return md5_hex("".join(f"{k}={signed[k]}" for k in sorted(signed)) + secret)


def rest_request(
    params: dict[str, str],
    *,
    sig: str | None,
    access_token: str | None = None,
    http: str = "POST",
    path: str = "/fb.do",
    base: str = BASE,
) -> Request:
    pairs = list(params.items())
    if sig is not None:
        pairs.append(("sig", sig))
    if access_token is not None:
        pairs.append(("access_token", access_token))
    encoded = urlencode(pairs)
    if http == "GET":
        return Request("GET", f"{base}{path}?{encoded}")
    return Request(
        "POST", base + path, (("content-type", "application/x-www-form-urlencoded"),), encoded.encode("ascii")
    )


def call(
    fake: FakeOK,
    method: str,
    params: dict[str, str] | None = None,
    *,
    token: dict[str, str] | None = None,
    circuit: str = "client",
    http: str = "POST",
    base: str = BASE,
) -> Response:
    """A correctly signed REST call as our users' apps make it."""
    full = {"application_key": fake.app_key, "format": "json", "method": method, **(params or {})}
    if token is None:
        secret = fake.app_secret_key
        access = None
    else:
        access = token["access_token"]
        secret = (
            token["session_secret_key"] if circuit == "client" else md5_hex(access + fake.app_secret_key)
        )
    return fake.handle(rest_request(full, sig=signature(full, secret), access_token=access, http=http, base=base))


def body(response: Response) -> Any:
    assert response.header("content-type") == "application/json;charset=utf-8", response
    return json.loads(response.body)


def error_code(response: Response) -> int | None:
    value = body(response)
    if isinstance(value, dict) and "error_code" in value:
        assert response.status == 200
        assert response.header("invocation-error") == str(value["error_code"])
        assert set(value) == {"error_code", "error_msg", "error_data"}
        return int(value["error_code"])
    return None


# -- a tiny browser for the dialogs ------------------------------------------------------------


class Form:
    def __init__(self, action: str, method: str) -> None:
        self.action = action
        self.method = method
        self.fields: dict[str, str] = {}
        self.buttons: list[str] = []


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.links: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): v or "" for k, v in attrs}
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").upper()))
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "input" and self.forms and "name" in a:
            if a.get("type") == "checkbox" and "checked" not in a:
                return
            self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms and "name" in a:
            self.forms[-1].buttons.append(a["name"])


def parse_page(response: Response) -> PageParser:
    parser = PageParser()
    parser.feed(response.body.decode("utf-8"))
    return parser


class Browser:
    """Sends requests to the fake, keeps host cookies, follows nothing by itself."""

    def __init__(self, fake: FakeOK, base: str = "https://connect.ok.ru") -> None:
        self.fake = fake
        self.base = base
        self.cookies: dict[str, str] = {}

    def _send(self, request: Request) -> Response:
        response = self.fake.handle(request)
        for value in response.header_values("set-cookie"):
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response

    def _headers(self) -> tuple[tuple[str, str], ...]:
        if not self.cookies:
            return ()
        return (("cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items())),)

    def get(self, url: str) -> Response:
        return self._send(Request("GET", urljoin(self.base + "/", url), self._headers()))

    def post(self, url: str, fields: dict[str, str]) -> Response:
        headers = (*self._headers(), ("content-type", "application/x-www-form-urlencoded"))
        return self._send(Request("POST", urljoin(self.base + "/", url), headers, urlencode(fields).encode()))

    def follow(self, response: Response, limit: int = 10) -> Response:
        while response.status == 302 and limit:
            location = response.header("location") or ""
            if not location.startswith("/"):
                return response  # the final redirect back to the app
            response = self.get(location)
            limit -= 1
        return response


def authorize_url(fake: FakeOK, **overrides: str) -> str:
    params = {
        "client_id": fake.app_id,
        "scope": "VALUABLE_ACCESS;PHOTO_CONTENT",
        "response_type": "token",
        "redirect_uri": "https://oauth.mycdn.me/blank.html",
        "layout": "w",
        "state": "st-123",
        **overrides,
    }
    return "/oauth/authorize?" + urlencode(params)


def fragment(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).fragment, keep_blank_values=True))


def query(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))
