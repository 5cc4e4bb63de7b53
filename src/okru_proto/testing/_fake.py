"""``FakeOK``: a pure, in-memory OK.ru server (REST, OAuth, dialogs, upload) with its own clock."""

from __future__ import annotations

import base64
import functools
import random
import string
import threading
from collections.abc import Callable, Iterable
from hashlib import md5
from typing import Concatenate, ParamSpec, TypeVar

from .._errors import UsageError
from .._sign import canonical_string, server_secret, sign
from .._types import Request, Response
from ._clock import Clock, FakeClock
from ._faults import FAULTS, PLAIN, Action, FaultPlan
from ._http import (
    BadRequest,
    Incoming,
    api_error,
    html_page,
    html_response,
    json_response,
    parse_incoming,
    tomcat_error,
)
from ._model import (
    KNOWN_SCOPES,
    AccessToken,
    App,
    AuthCode,
    DialogSession,
    Group,
    ReceivedRequest,
    RefreshToken,
    Topic,
    UploadedPhoto,
    UploadTicket,
    User,
    normalize_scope,
)

__all__ = ["FakeOK"]

ACCESS_TOKEN_TTL = 30 * 60  # PROTOCOL.md §3.5: expires_in "1800"
LONG_TOKEN_TTL = 30 * 86400  # LONG_ACCESS_TOKEN: 30 days, sliding (§3.5)
REFRESH_TOKEN_TTL = 30 * 86400  # §3.5
CODE_TTL = 2 * 60  # "active for 2 minutes" (§3.1)
UPLOAD_TTL = 24 * 3600  # ttl_ms 86399988 in the doc example (§7.2)

_ALNUM = string.ascii_lowercase + string.digits


P = ParamSpec("P")
R = TypeVar("R")


def _locked(func: Callable[Concatenate[FakeOK, P], R]) -> Callable[Concatenate[FakeOK, P], R]:
    @functools.wraps(func)
    def wrapper(self: FakeOK, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.lock:
            return func(self, *args, **kwargs)

    return wrapper


class ApiFail(Exception):
    """Raised inside a method implementation: answer with OK error ``code``."""

    def __init__(self, code: int, text: str, data: object = None) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.data = data


def permission_denied(scope: str) -> ApiFail:
    # Real text and error_data from PROTOCOL.md §4 (MISC id 18340393522).
    return ApiFail(10, f"User must grant an access to permission '{scope}'", scope.lower())


class FakeOK:
    """An in-memory OK.ru server: ``handle(Request) -> Response``, no I/O, no wall clock.

    A bare ``FakeOK()`` is ready to use with a demo app and a demo user:

    * app ``app_id="512000000001"``, ``app_key="CBADEMOAPPKEYBABA"``,
      ``app_secret_key="0D1E2M3O4S5E6C7R8E9T0A1B"``; redirect URIs
      ``https://oauth.mycdn.me/blank.html``, ``http://localhost/callback`` and any loopback
      ``http://127.0.0.1:<port>/...`` / ``http://localhost:<port>/...`` / ``http://[::1]:<port>/...``
      (RFC 8252: the port is ignored for loopback hosts); client OAuth (implicit grant) enabled;
      every known permission allowed.
    * user ``user_login="demo"``, ``user_password="demo-password"``, ``user_id="571000000001"``
      (Demo User) with three friends and two groups; group ``"53000000000001"`` has 25 members
      (three pages of ``count=10`` in ``group.getMembers``).

    The clock starts at 2024-01-01T00:00:00Z (``fake.clock.advance(seconds)`` moves it, or pass
    ``clock=``); tokens and ids come from ``random.Random(seed)``, so runs are reproducible.
    """

    def __init__(self, *, clock: Clock | None = None, seed: int = 0) -> None:
        self.clock: Clock = clock if clock is not None else FakeClock()
        self.rng = random.Random(seed)
        self.faults = FaultPlan(self.rng)
        #: HTTP status of token.do's JSON errors. OK's is unknown (PROTOCOL.md §3.1 "NOT FOUND");
        #: 400 follows RFC 6749 §5.2. Set to 200 to test a client against the other choice.
        self.oauth_error_status = 400
        self.apps: dict[str, App] = {}
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.codes: dict[str, AuthCode] = {}
        self.tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.dialog_sessions: dict[str, DialogSession] = {}
        self.uploads: dict[str, UploadTicket] = {}
        self.photos: dict[str, UploadedPhoto] = {}
        self.topics: list[Topic] = []
        #: (uid, text) of every notifications.sendSimple.
        self.notifications: list[tuple[str, str]] = []
        #: Every request received, in order (see :class:`ReceivedRequest`).
        self.requests: list[ReceivedRequest] = []
        self._counter = 0
        # run_fake_server answers from its own thread while the test thread scripts faults or
        # issues tokens: one lock keeps each request and each setup call atomic.
        self.lock = threading.RLock()
        self._setup_demo()

    # -- demo data -------------------------------------------------------------------------

    app_id = "512000000001"
    app_key = "CBADEMOAPPKEYBABA"
    app_secret_key = "0D1E2M3O4S5E6C7R8E9T0A1B"
    user_login = "demo"
    user_password = "demo-password"
    user_id = "571000000001"
    group_id = "53000000000001"
    small_group_id = "53000000000002"

    def _setup_demo(self) -> None:
        self.add_app(
            self.app_id,
            self.app_key,
            self.app_secret_key,
            redirect_uris=("https://oauth.mycdn.me/blank.html", "http://localhost/callback"),
            client_oauth=True,
            permissions=KNOWN_SCOPES,
            loopback_redirects=True,
        )
        friends = [
            self.add_user("ivan", "ivan-password", uid="571000000002", first_name="Ivan", last_name="Petrov"),
            self.add_user(
                "maria", "maria-password", uid="571000000003", first_name="Мария", last_name="Иванова",
                gender="female",
            ),
            self.add_user("oleg", "oleg-password", uid="571000000004", first_name="Oleg", last_name="Sidorov"),
        ]
        self.add_group(self.group_id, "Demo group", description="A group with enough members to page")
        self.add_group(self.small_group_id, "Small group")
        self.add_user(
            self.user_login, self.user_password, uid=self.user_id, first_name="Demo", last_name="User",
            email="demo@example.com", friends=[f.uid for f in friends],
            groups=(self.group_id, self.small_group_id),
        )
        for friend in friends:
            self.join_group(friend.uid, self.group_id)
        self.join_group(friends[0].uid, self.small_group_id)
        for n in range(21):  # 4 + 21 = 25 members
            member = self.add_user(
                f"member{n:02d}", f"member{n:02d}-password", uid=f"5710000001{n:02d}",
                first_name=f"Member{n:02d}", last_name="Demo",
            )
            self.join_group(member.uid, self.group_id)
        for n in range(12):  # a personal album to page through with photos.getPhotos
            pid = f"demo-photo-{n:02d}"
            self.photos[pid] = UploadedPhoto(
                pid, f"demo-token-{n:02d}", self.user_id, b"", None, committed=True,
                assigned_photo_id=self.next_id(547_000_000_000),
            )

    # -- registries --------------------------------------------------------------------------

    @_locked
    def add_app(
        self,
        app_id: str,
        app_key: str,
        app_secret_key: str,
        *,
        redirect_uris: Iterable[str] = ("https://oauth.mycdn.me/blank.html",),
        client_oauth: bool = True,
        permissions: Iterable[str] = ("VALUABLE_ACCESS", "LONG_ACCESS_TOKEN", "PHOTO_CONTENT", "GROUP_CONTENT"),
        loopback_redirects: bool = False,
    ) -> App:
        """Register an application. ``permissions``: scopes it may be granted (others are dropped
        from requests). ``loopback_redirects``: accept any http loopback redirect URI."""
        if not (isinstance(app_id, str) and app_id.isdigit()):
            raise UsageError("app_id must be a str of digits (OK application ids are numeric)")
        if any(a.app_key == app_key for a in self.apps.values() if a.app_id != app_id):
            raise UsageError(f"app_key {app_key!r} is already registered")
        app = App(
            app_id, app_key, app_secret_key, tuple(redirect_uris), client_oauth,
            frozenset(normalize_scope(p) for p in permissions), loopback_redirects,
        )
        self.apps[app_id] = app
        return app

    @_locked
    def add_user(
        self,
        login: str,
        password: str,
        *,
        uid: str | None = None,
        first_name: str = "Test",
        last_name: str = "User",
        gender: str = "male",
        email: str | None = None,
        friends: Iterable[str] = (),
        groups: Iterable[str] = (),
        captcha: bool = False,
        human_check: bool = False,
    ) -> User:
        """Register a user (friendships are mutual; unknown group ids are created)."""
        if uid is None:
            uid = str(572000000000 + len(self.users) + 1)
            while uid in self.users:
                uid = str(int(uid) + 1)
        if any(u.login == login for u in self.users.values() if u.uid != uid):
            raise UsageError(f"login {login!r} is already taken")
        user = User(
            uid, login, password, first_name, last_name, gender=gender, email=email,
            captcha=captcha, human_check=human_check,
        )
        self.users[uid] = user
        for fid in friends:
            self.make_friends(uid, fid)
        for gid in groups:
            self.join_group(uid, gid)
        return user

    @_locked
    def add_group(self, gid: str, name: str, *, description: str = "") -> Group:
        group = self.groups.get(gid)
        if group is None:
            group = self.groups[gid] = Group(gid, name, description)
        else:
            group.name, group.description = name, description
        return group

    def make_friends(self, uid: str, fid: str) -> None:
        a, b = self.users[uid], self.users[fid]
        if fid not in a.friends:
            a.friends.append(fid)
        if uid not in b.friends:
            b.friends.append(uid)

    def join_group(self, uid: str, gid: str) -> None:
        group = self.groups.get(gid) or self.add_group(gid, f"Group {gid}")
        if uid not in group.members:
            group.members.append(uid)
        user = self.users[uid]
        if gid not in user.groups:
            user.groups.append(gid)

    def user_by_login(self, login: str) -> User | None:
        for user in self.users.values():
            if user.login == login:
                return user
        return None

    def app_by_key(self, app_key: str) -> App | None:
        for app in self.apps.values():
            if app.app_key == app_key:
                return app
        return None

    # -- time and randomness ----------------------------------------------------------------

    @property
    def now(self) -> float:
        """The emulator's current Unix time."""
        return self.clock.now

    def advance(self, seconds: float) -> float:
        """Shortcut for ``fake.clock.advance(seconds)``; returns the new time."""
        return self.clock.advance(seconds)

    def random_string(self, length: int, alphabet: str = _ALNUM) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    def random_hex(self, length: int = 32) -> str:
        return self.random_string(length, "0123456789abcdef")

    def next_id(self, base: int = 600_000_000_000) -> str:
        self._counter += 1
        return str(base + self._counter)

    # -- grants and tokens ---------------------------------------------------------------------

    def _app(self, app_id: str | None) -> App:
        app = self.apps.get(app_id or self.app_id)
        if app is None:
            raise UsageError(f"no app {app_id!r} registered")
        return app

    def _user(self, login: str | None) -> User:
        user = self.user_by_login(login or self.user_login)
        if user is None:
            raise UsageError(f"no user with login {login!r}")
        return user

    def grantable(self, app: App, scope: Iterable[str]) -> frozenset[str]:
        return frozenset(normalize_scope(s) for s in scope if s.strip()) & app.permissions

    def new_access_token(
        self, app: App, uid: str, scopes: frozenset[str], *, with_session_secret: bool
    ) -> AccessToken:
        long = "LONG_ACCESS_TOKEN" in scopes
        # Shaped like real tokens ("dwipa.7912dvrsxji0049e565qh4a3k3d", PROTOCOL.md §3.1).
        token = f"{self.random_string(5)}.{self.random_string(32)}"
        record = AccessToken(
            token, app.app_id, uid, scopes,
            self.now + (LONG_TOKEN_TTL if long else ACCESS_TOKEN_TTL),
            self.random_hex() if with_session_secret else None, long=long,
            extended_day=int(self.now // 86400) if long else None,
        )
        self.tokens[token] = record
        return record

    def new_refresh_token(self, app: App, uid: str, scopes: frozenset[str]) -> RefreshToken:
        # "971547395341_382ca2a1321d0c24cfd1ef1964e2f4ea0d_573991092e" (PROTOCOL.md §3.1)
        token = f"{uid}_{self.random_hex(34)}_{self.random_hex(10)}"
        record = RefreshToken(token, app.app_id, uid, scopes, self.now + REFRESH_TOKEN_TTL)
        self.refresh_tokens[token] = record
        return record

    def expires_in(self, token: AccessToken) -> str:
        return str(max(0, int(token.expires_at - self.now)))

    @_locked
    def grant(self, *, app_id: str | None = None, login: str | None = None,
              scope: Iterable[str] = ("VALUABLE_ACCESS",)) -> frozenset[str]:
        """Record that the user allowed these scopes to the app (skips the permission page)."""
        app, user = self._app(app_id), self._user(login)
        granted = self.grantable(app, scope)
        user.grants.setdefault(app.app_id, set()).update(granted)
        return granted

    @_locked
    def authorize_code(
        self,
        *,
        app_id: str | None = None,
        login: str | None = None,
        redirect_uri: str,
        scope: Iterable[str] = ("VALUABLE_ACCESS",),
        state: str | None = None,
    ) -> str:
        """"Click allow" for a test user in the code flow; returns the code (2-minute lifetime).

        ``state`` is accepted for symmetry with the dialog (the caller already knows it).
        """
        app, user = self._app(app_id), self._user(login)
        if not self.redirect_allowed(app, redirect_uri):
            raise UsageError(f"redirect_uri {redirect_uri!r} is not registered for app {app.app_id}")
        granted = self.grant(app_id=app.app_id, login=user.login, scope=scope)
        return self.new_code(app, user.uid, granted, redirect_uri)

    def new_code(self, app: App, uid: str, scopes: frozenset[str], redirect_uri: str) -> str:
        # Codes may contain "/" (PHP test "someCode/1", PROTOCOL.md §3.1): clients must encode.
        code = f"{self.random_string(24)}/{self.random_string(2, string.digits)}"
        self.codes[code] = AuthCode(code, app.app_id, uid, scopes, redirect_uri, self.now + CODE_TTL)
        return code

    @_locked
    def issue_token(
        self,
        *,
        app_id: str | None = None,
        login: str | None = None,
        scope: Iterable[str] = ("VALUABLE_ACCESS",),
        long: bool = False,
    ) -> dict[str, str]:
        """A ready session for tests: ``access_token``, ``refresh_token``, ``session_secret_key``,
        ``expires_in`` (a string, as OK sends it). The token may sign either circuit."""
        scope = list(scope) + (["LONG_ACCESS_TOKEN"] if long else [])
        app, user = self._app(app_id), self._user(login)
        granted = self.grant(app_id=app.app_id, login=user.login, scope=scope)
        access = self.new_access_token(app, user.uid, granted, with_session_secret=True)
        refresh = self.new_refresh_token(app, user.uid, granted)
        assert access.session_secret_key is not None
        return {
            "access_token": access.token,
            "refresh_token": refresh.token,
            "session_secret_key": access.session_secret_key,
            "expires_in": self.expires_in(access),
        }

    @_locked
    def add_token(
        self,
        access_token: str,
        *,
        app_id: str | None = None,
        login: str | None = None,
        scope: Iterable[str] = ("VALUABLE_ACCESS",),
        session_secret_key: str | None = None,
        expires_in: float = ACCESS_TOKEN_TTL,
    ) -> AccessToken:
        """Register an access token with a chosen value (e.g. to replay PROTOCOL.md test vectors).

        With ``session_secret_key`` it signs either circuit; without, server-server only.
        """
        app, user = self._app(app_id), self._user(login)
        scopes = self.grantable(app, scope)
        record = AccessToken(
            access_token, app.app_id, user.uid, scopes, self.now + expires_in, session_secret_key,
            long="LONG_ACCESS_TOKEN" in scopes,
            extended_day=int(self.now // 86400) if "LONG_ACCESS_TOKEN" in scopes else None,
        )
        self.tokens[access_token] = record
        return record

    @_locked
    def expire_access_tokens(self) -> None:
        """Make every access token expired now (calls answer 102; refresh tokens still work)."""
        for token in self.tokens.values():
            token.expires_at = min(token.expires_at, self.now)

    @_locked
    def revoke(self, *, app_id: str | None = None, login: str | None = None) -> None:
        """The user revokes the app (PROTOCOL.md §3.5): its tokens become unknown (103)."""
        app, user = self._app(app_id), self._user(login)
        user.grants.pop(app.app_id, None)
        for table in (self.tokens, self.refresh_tokens):
            for key in [k for k, t in table.items() if t.app_id == app.app_id and t.uid == user.uid]:
                del table[key]

    def redirect_allowed(self, app: App, redirect_uri: str) -> bool:
        from ._oauth import redirect_allowed

        return redirect_allowed(app, redirect_uri)

    # -- faults and log ----------------------------------------------------------------------

    @_locked
    def inject(self, fault: str, *, method: str | None = None, times: int | None = 1,
               seconds: float = 1.0) -> None:
        """Script a fault for the next ``times`` matching calls (``None``: every one).

        ``method``: a REST method name (``"users.getInfo"``) or an endpoint path
        (``"/oauth/token.do"``, ``"/uploadImage"``); ``None`` matches any REST call for
        ``"flood"``/``"service"`` and any request for the HTTP-level faults. ``seconds`` is the
        delay of ``"slow"``.
        """
        self.faults.add(fault, method, times, seconds)

    @_locked
    def fault_rates(self, /, *, slow_seconds: float = 1.0, **rates: float) -> None:
        """Random faults on REST calls, e.g. ``fault_rates(reset=0.05, http_502=0.05, flood=0.05)``;
        drawn from the seeded generator, so a seed replays the same sequence."""
        for name, rate in rates.items():
            if name not in FAULTS:
                raise UsageError(f"unknown fault {name!r}; one of {', '.join(FAULTS)}")
            if not 0.0 <= rate <= 1.0:
                raise UsageError(f"rate for {name!r} must be within 0..1")
        self.faults.rates = dict(rates)
        self.faults.slow_seconds = slow_seconds

    @_locked
    def clear_faults(self) -> None:
        self.faults.clear()

    def calls(self, method: str) -> list[ReceivedRequest]:
        """Received requests for one REST method name (or endpoint path)."""
        return [r for r in self.requests if r.method == method]

    # -- the server ----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request as OK.ru would. Never raises.

        Transport-level faults need a transport (:meth:`handle_ex` tells it what to do): here
        "slow" answers at once, "reset" gives an empty HTTP 499 (no request was processed), and
        "truncated" cuts the body in half.
        """
        response, action = self.handle_ex(request)
        if action.truncate_at is not None:
            headers = tuple((k, v) for k, v in response.headers if k != "content-length")
            return Response(response.status, headers, response.body[: action.truncate_at])
        return response

    def handle_ex(self, request: Request) -> tuple[Response, Action]:
        """The response plus what the transport should do with it (delay, reset, truncate)."""
        try:
            with self.lock:
                return self._dispatch(request)
        except Exception as exc:  # a bug in the emulator must not look like a client bug
            page = html_page("500", f"<h1>HTTP Status 500 - emulator error</h1><pre>{type(exc).__name__}</pre>")
            return html_response(500, page), PLAIN

    def _dispatch(self, request: Request) -> tuple[Response, Action]:
        from . import _methods, _oauth

        try:
            incoming = parse_incoming(request)
        except BadRequest:
            return tomcat_error(400, "Bad request"), PLAIN
        path = incoming.path
        params = incoming.params
        rest_name: str | None = None
        is_rest = False
        if path == "/fb.do":
            is_rest = True
            rest_name = params.get("method", "")
        elif path.startswith("/api/") and path.count("/") == 3:
            # /api/<group>/<method>: no "method" parameter, nothing of it is signed (§1.1).
            is_rest = True
            _, _, group, name = path.split("/")
            rest_name = f"{group}.{name}"
        call = rest_name if rest_name else path
        self.requests.append(ReceivedRequest(request, path, call, params, self.now))

        fault = self.faults.take(call, is_rest)
        action = PLAIN
        if fault is not None:
            kind, delay = fault
            early = self._fault_response(kind, call)
            if early is not None:
                return early, PLAIN
            if kind == "reset":
                return html_response(499, ""), Action(reset=True)
            if kind == "slow":
                action = Action(delay=delay)

        if is_rest:
            response = self._rest(incoming, rest_name or "", from_path=path != "/fb.do")
        elif path == "/oauth/token.do":
            response = _oauth.token_endpoint(self, incoming)
        elif path == "/oauth/authorize":
            response = _oauth.authorize(self, incoming)
        elif path == "/dk":
            response = _oauth.dialog(self, incoming)
        elif path == "/uploadImage":
            response = _methods.upload_image(self, incoming)
        else:
            response = html_response(404, html_page("404", "<h1>HTTP Status 404 - Not Found</h1>"))
        if fault is not None and fault[0] == "truncated":
            action = Action(truncate_at=len(response.body) // 2)
        return response, action

    def _fault_response(self, kind: str, call: str) -> Response | None:
        if kind == "flood":
            return api_error(8, "Call blocked due to flood protection")
        if kind == "service":
            # Real text (django-odnoklassniki-api, PROTOCOL.md §4).
            return api_error(2, f"Service is temporary unavailable., logged by ID : {self.random_hex(16)}")
        if kind.startswith("http_"):
            status = int(kind[5:])
            title = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}[status]
            return html_response(status, html_page(f"{status} {title}", f"<center><h1>{status} {title}</h1></center><hr><center>nginx</center>"))
        if kind == "html":
            return html_response(200, html_page("OK", "<h1>Technical works</h1><p>We will be back soon.</p>"))
        return None

    # -- REST ----------------------------------------------------------------------------------

    def _rest(self, incoming: Incoming, name: str, *, from_path: bool) -> Response:
        from ._methods import METHODS, CallContext, auth_login

        params = incoming.params
        if not name:
            return api_error(100, "Missed required parameter: method")
        if name == "auth.login":
            # Sent unsigned by every client that uses it (PROTOCOL.md §3.3).
            return self._run(lambda: auth_login(self, incoming))
        app_key = params.get("application_key")
        if not app_key:
            return api_error(101, "No application key")
        app = self.app_by_key(app_key)
        if app is None:
            return api_error(101, "Application not exist")
        spec = METHODS.get(name)
        if spec is None:
            return api_error(3, f"Method {name} does not exist")
        token_text = params.get("access_token") or params.get("session_key")
        received = params.get("sig")
        if not received:
            return api_error(104, "No signature specified")
        token: AccessToken | None = None
        if token_text:
            token = self.tokens.get(token_text)
            if token is None or token.app_id != app.app_id or token.revoked:
                return api_error(103, "Invalid session key")
            if token.expires_at <= self.now:
                return api_error(102, "Session expired")
        failure = self._check_signature(params, received, app, token)
        if failure is not None:
            return failure
        # Session rules after the signature, so a correctly signed call always gets past 104.
        if spec.session == "prohibited" and token is not None:
            return api_error(451, "Session key given for method that must be called without session")
        if spec.session == "required" and token is None:
            return api_error(453, "Session key is required for this method")
        if token is not None and token.long:
            # Sliding 30-day extension, at most once per day (PROTOCOL.md §3.5).
            day = int(self.now // 86400)
            if token.extended_day != day:
                token.extended_day = day
                token.expires_at = self.now + LONG_TOKEN_TTL
        if token is not None:
            for scope in spec.scopes:
                if scope not in token.scopes:
                    return api_error(*_fail_args(permission_denied(scope)))
        ctx = CallContext(self, incoming, app, token, self.users.get(token.uid) if token else None)
        return self._run(lambda: spec.func(ctx))

    def _run(self, func: Callable[[], object]) -> Response:
        try:
            result = func()
        except ApiFail as fail:
            return api_error(*_fail_args(fail))
        if isinstance(result, Response):
            return result
        return json_response(result)

    def _check_signature(
        self, params: dict[str, str], received: str, app: App, token: AccessToken | None
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

    # -- helpers for methods -----------------------------------------------------------------

    def anchor(self, key: str, index: int) -> str:
        return base64.urlsafe_b64encode(f"{key}:{index}".encode()).decode().rstrip("=")

    def parse_anchor(self, key: str, anchor: str) -> int | None:
        try:
            raw = base64.urlsafe_b64decode(anchor + "=" * (-len(anchor) % 4)).decode()
            prefix, _, index = raw.rpartition(":")
            return int(index) if prefix == key and index.isdigit() else None
        except (ValueError, UnicodeDecodeError):
            return None

    def auth_sig(self, uid: str, session_key: str, app: App) -> str:
        # md5(logged_user_id + session_key + app secret), the iframe auth_sig (TV-11).
        return md5((uid + session_key + app.app_secret_key).encode("utf-8")).hexdigest()


def _fail_args(fail: ApiFail) -> tuple[int, str, object]:
    return fail.code, fail.text, fail.data
