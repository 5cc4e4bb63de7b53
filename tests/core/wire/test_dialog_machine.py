"""A Hypothesis state machine over OK's dialog sequence with varied page shapes (issue 3).

Rules reshape the dialog server (redirect codes, relative or absolute Location, attribute case
and order, extra hidden inputs, nesting, cookies, an already-granted user, a wrong password);
after each change the implicit flow runs against it, and must either return the server's token
(having posted every form field back, the credentials only to the dialog host, and the cookies
only where they were set) or raise the one typed error that shape calls for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from okru_proto import Endpoints
from okru_proto.adapter import Request, Response, implicit_flow, run_sync
from okru_proto.errors import BadCredentialsError

HOST = "connect.ok.ru"
BLANK = "https://oauth.mycdn.me/blank.html"
HTML = (("content-type", "text/html;charset=utf-8"),)


@dataclass
class Shape:
    status: int = 302
    absolute: bool = False
    upper_tags: bool = False
    reverse_attributes: bool = False
    extra_hidden: list[tuple[str, str]] = field(default_factory=list)
    nesting: int = 0
    cookies: list[tuple[str, str]] = field(default_factory=lambda: [("AUTHCODE", "c0")])
    granted: bool = False
    wrong_password: bool = False


def _input(shape: Shape, **attrs: str) -> str:
    items = list(attrs.items())
    if shape.reverse_attributes:
        items.reverse()
    tag = "INPUT" if shape.upper_tags else "input"
    text = " ".join(f'{k.upper() if shape.upper_tags else k}="{v}"' for k, v in items)
    return f"<{tag} {text}>"


def _wrap(shape: Shape, html: str) -> str:
    return "<div>" * shape.nesting + html + "</div>" * shape.nesting


class DialogServer:
    """Answers like OK's dialogs for the current shape, and records what it received."""

    def __init__(self, shape: Shape, password: str) -> None:
        self.shape = shape
        self.password = password
        self.received: list[Request] = []

    def location(self, target: str) -> str:
        return f"https://{HOST}{target}" if self.shape.absolute and target.startswith("/") else target

    def redirect(self, target: str, *cookies: tuple[str, str], after_post: bool = False) -> Response:
        headers = [("location", self.location(target))]
        headers += [("set-cookie", f"{name}={value}; Path=/; HttpOnly") for name, value in cookies]
        # After a form POST OK answers post/redirect/get; a 307 there would make any browser
        # (and the flow) re-POST the login form to the next page, which is not OK's dialog.
        status = self.shape.status
        if after_post and status == 307:
            status = 302
        return Response(status, tuple(headers), b"")

    def login_page(self) -> Response:
        s = self.shape
        form = "FORM" if s.upper_tags else "form"
        fields = [_input(s, type="hidden", name="fr.posted", value="set")]
        fields += [_input(s, type="hidden", name=n, value=v) for n, v in s.extra_hidden]
        fields += [_input(s, type="text", name="fr.email"), _input(s, type="password", name="fr.password"),
                   _input(s, type="submit", value="Войти")]
        html = f'<{form} method="post" action="/dk?cmd=OAuth2Login&amp;st.cmd=OAuth2Login">{"".join(fields)}</{form}>'
        return Response(200, HTML, _wrap(s, html).encode())

    def permissions_page(self) -> Response:
        s = self.shape
        fields = [_input(s, type="hidden", name="fr.posted", value="set"),
                  _input(s, type="hidden", name="fr.token", value="csrf-1")]
        html = (f'<form method="POST" action="/dk?st.cmd=OAuth2Permissions&amp;cmd=OAuth2Permissions">'
                f'{"".join(fields)}<button name="button_accept_request">OK</button></form>')
        return Response(200, HTML, _wrap(s, html).encode())

    def final(self) -> Response:
        return self.redirect(BLANK + "#access_token=AT-1&session_secret_key=SSK-1&expires_in=1800"
                                     "&permissions_granted=VALUABLE_ACCESS&state=st", after_post=True)

    def __call__(self, request: Request) -> Response:
        self.received.append(request)
        parts = urlsplit(request.url)
        assert parts.netloc == HOST, "a request left the dialog host"
        query = dict(parse_qsl(parts.query))
        if parts.path == "/oauth/authorize":
            return self.redirect("/dk?st.cmd=OAuth2Login&st.client_id=512")
        if request.method == "GET" and query.get("st.cmd") == "OAuth2Login":
            return self.login_page()
        if request.method == "POST" and query.get("st.cmd") == "OAuth2Login":
            form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
            for name, value in [("fr.posted", "set"), *self.shape.extra_hidden]:
                assert form.get(name) == value, f"hidden field {name} not posted back"
            if form.get("fr.password") != self.password or self.shape.wrong_password:
                return self.login_page()
            if self.shape.granted:
                return self.final()
            return self.redirect("/dk?st.cmd=OAuth2Permissions", *self.shape.cookies, after_post=True)
        if query.get("st.cmd") == "OAuth2Permissions" and request.method == "GET":
            return self.permissions_page()
        if query.get("st.cmd") == "OAuth2Permissions":
            form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
            assert form.get("fr.token") == "csrf-1" and "button_accept_request" in form
            expected = "; ".join(f"{n}={v}" for n, v in dict(self.shape.cookies).items())
            assert request.header("cookie") == (expected or None), "cookies not sent back as set"
            return self.final()
        raise AssertionError(f"unexpected request {request!r}")


names = st.text(alphabet="abcdefghij._", min_size=1, max_size=6).map(lambda n: "x" + n)
values = st.text(alphabet="ABCxyz0123-_", max_size=8)


class DialogShapes(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.shape = Shape()

    @rule(status=st.sampled_from([301, 302, 303, 307]), absolute=st.booleans())
    def redirects(self, status: int, absolute: bool) -> None:
        self.shape.status, self.shape.absolute = status, absolute

    @rule(upper=st.booleans(), reverse=st.booleans(), nesting=st.integers(0, 3))
    def markup(self, upper: bool, reverse: bool, nesting: int) -> None:
        self.shape.upper_tags, self.shape.reverse_attributes, self.shape.nesting = upper, reverse, nesting

    @rule(extra=st.lists(st.tuples(names, values), max_size=3, unique_by=lambda p: p[0]))
    def hidden_inputs(self, extra: list[tuple[str, str]]) -> None:
        self.shape.extra_hidden = extra

    @rule(cookies=st.lists(st.tuples(st.sampled_from(["AUTHCODE", "JSESSIONID", "bci", "_statid"]), values),
                           max_size=3, unique_by=lambda p: p[0]))
    def cookies(self, cookies: list[tuple[str, str]]) -> None:
        self.shape.cookies = cookies

    @rule(granted=st.booleans(), wrong=st.booleans())
    def user(self, granted: bool, wrong: bool) -> None:
        self.shape.granted, self.shape.wrong_password = granted, wrong

    @rule()
    def run_the_grant(self) -> None:
        server = DialogServer(self.shape, "pa$$ word")
        flow = implicit_flow("512", "user@example.com", "pa$$ word", state="st", now=0.0,
                             endpoints=Endpoints(api="https://api.ok.ru", connect=f"https://{HOST}"))
        if self.shape.wrong_password:
            try:
                run_sync(flow, server, lambda s: None)
            except BadCredentialsError:
                return
            raise AssertionError("a refused password must raise BadCredentialsError")
        token = run_sync(flow, server, lambda s: None)
        assert token.access_token.reveal() == "AT-1" and token.state == "st"
        posts = [r for r in server.received if r.method == "POST"]
        assert len(posts) == (1 if self.shape.granted else 2)
        assert "pa%24%24+word" in posts[0].body.decode()  # the password, form-encoded, once
        assert all("pa%24%24" not in r.body.decode() for r in posts[1:])


TestDialogShapes = DialogShapes.TestCase
TestDialogShapes.settings = settings(max_examples=60, stateful_step_count=8, deadline=None)
