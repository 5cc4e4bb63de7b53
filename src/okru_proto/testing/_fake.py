"""``FakeOK``, the emulator's front object: demo data, test scripting and the route table.

Everything a test calls on the emulator beyond the records lives here: the demo app and users
of a bare ``FakeOK()``, granting and issuing tokens without a browser, revoking and expiring
them, scripting faults, and ``handle``/``handle_ex``, which log each request, apply faults and
send it by path to its endpoint module (:data:`ROUTES`). The records, token minting and
lifetimes are the :class:`~._store.Store` it extends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .._errors import UsageError
from .._values import Request, Response
from ._bots import FakeBots, bots_of
from ._clock import Clock
from ._faults import PLAIN, Action, FaultPlan, fault_response
from ._graph_routes import fake_control, file_upload, graph_endpoint, updates_hold
from ._http import BadRequest, Incoming, html_page, html_response, parse_incoming, tomcat_error
from ._model import KNOWN_SCOPES, AccessToken, App, ReceivedRequest, UploadedPhoto, User
from ._oauth import authorize, dialog, redirect_allowed
from ._paging import anchor, parse_anchor
from ._payments import FakePayments, payment_endpoint, payments_of
from ._photos import upload_image
from ._rest import rest, rest_name
from ._store import ACCESS_TOKEN_TTL, Store, locked
from ._token import auth_sig, token_endpoint
from ._video import (
    VideoFault,
    VideoSink,
    VideoStore,
    VideoUpload,
    open_video_sink,
    run_sink,
    upload_video,
    video_store,
)

__all__ = ["ROUTES", "FakeOK"]

Handler = Callable[[Store, Incoming], Response]

#: Endpoints other than REST (``/fb.do`` and ``/api/<group>/<method>``, see ``_rest``), by path.
ROUTES: dict[str, Handler] = {
    "/oauth/token.do": token_endpoint,
    "/oauth/authorize": authorize,
    "/dk": dialog,
    "/uploadImage": upload_image,
    "/graph/": graph_endpoint,  # a path ending in "/" routes everything under it (the Bot API)
    "/fu/upload.do": file_upload,
    "/fake/": fake_control,  # the emulator's own controls (a member writes...), not OK's API
    "/uploadVideo": upload_video,
    "/fake/payment": payment_endpoint,  # the emulator's own: a user buys something (_payments)
}

#: Endpoints whose POST bodies a transport may stream (see :meth:`FakeOK.open_stream`).
STREAM_ROUTES = {"/uploadVideo": open_video_sink}


def _not_found(fake: Store, incoming: Incoming) -> Response:
    return html_response(404, html_page("404", "<h1>HTTP Status 404 - Not Found</h1>"))


class FakeOK(Store):
    """An in-memory OK.ru server: ``handle(Request) -> Response``, no I/O, no wall clock.

    A bare ``FakeOK()`` is ready to use with a demo app and a demo user:

    * app ``app_id="512000000001"``, ``app_key="CBADEMOAPPKEYBABA"``,
      ``app_secret_key="0D1E2M3O4S5E6C7R8E9T0A1B"``; redirect URIs
      ``https://oauth.mycdn.me/blank.html``, ``http://localhost/callback`` and any loopback
      ``http://127.0.0.1:<port>/...`` / ``http://localhost:<port>/...`` / ``http://[::1]:<port>/...``
      (also ``*.localhost``; RFC 8252: the port is ignored for loopback hosts); client OAuth
      (implicit grant) enabled; every known permission allowed.
    * user ``user_login="demo"``, ``user_password="demo-password"``, ``user_id="571000000001"``
      (Demo User) with three friends and two groups; group ``"53000000000001"`` has 25 members
      (three pages of ``count=10`` in ``group.getMembers``).

    The clock starts at 2024-01-01T00:00:00Z (``fake.clock.advance(seconds)`` moves it, or pass
    ``clock=``); tokens and ids come from ``random.Random(seed)``, so runs are reproducible.
    """

    def __init__(self, *, clock: Clock | None = None, seed: int = 0) -> None:
        super().__init__(clock=clock, seed=seed)
        self.faults = FaultPlan(self.rng)
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

    @locked
    def grant(self, *, app_id: str | None = None, login: str | None = None,
              scope: Iterable[str] = ("VALUABLE_ACCESS",)) -> frozenset[str]:
        """Record that the user allowed these scopes to the app (skips the permission page)."""
        app, user = self._app(app_id), self._user(login)
        granted = self.grantable(app, scope)
        user.grants.setdefault(app.app_id, set()).update(granted)
        return granted

    @locked
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

    @locked
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

    @locked
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
        """Register an access token with a chosen value (e.g. to replay the test vectors of docs/protocol.md §2.7).

        With ``session_secret_key`` it signs either circuit; without, server-server only.
        """
        app, user = self._app(app_id), self._user(login)
        scopes = self.grantable(app, scope)
        return self.put_access_token(access_token, app, user.uid, scopes, expires_in, session_secret_key)

    @locked
    def expire_access_tokens(self) -> None:
        """Make every access token expired now (calls answer 102; refresh tokens still work)."""
        for token in self.tokens.values():
            token.expires_at = min(token.expires_at, self.now)

    @locked
    def revoke(self, *, app_id: str | None = None, login: str | None = None) -> None:
        """The user revokes the app (docs/protocol.md §3.5): its tokens become unknown (103)."""
        app, user = self._app(app_id), self._user(login)
        user.grants.pop(app.app_id, None)
        for table in (self.tokens, self.refresh_tokens):
            for key in [k for k, t in table.items() if t.app_id == app.app_id and t.uid == user.uid]:
                del table[key]

    def redirect_allowed(self, app: App, redirect_uri: str) -> bool:
        return redirect_allowed(app, redirect_uri)

    @property
    def bots(self) -> FakeBots:
        """The group bot side (Bot API): chats, members, webhook deliveries (``_bots``)."""
        return bots_of(self)

    @property
    def payments(self) -> FakePayments:
        """An OK game's side: launch URLs, and purchases calling its callbacks.payment (``_payments``)."""
        return payments_of(self)

    auth_sig = staticmethod(auth_sig)
    anchor = staticmethod(anchor)
    parse_anchor = staticmethod(parse_anchor)

    # -- faults and log ----------------------------------------------------------------------

    @locked
    def inject(self, fault: str, *, method: str | None = None, times: int | None = 1,
               seconds: float = 1.0) -> None:
        """Script a fault for the next ``times`` matching calls (``None``: every one).

        ``method``: a REST method name (``"users.getInfo"``) or an endpoint path
        (``"/oauth/token.do"``, ``"/uploadImage"``); ``None`` matches any REST call for
        ``"flood"``/``"service"`` and any request for the HTTP-level faults. ``seconds`` is the
        delay of ``"slow"``.
        """
        self.faults.add(fault, method, times, seconds)

    @locked
    def fault_rates(self, /, *, slow_seconds: float = 1.0, **rates: float) -> None:
        """Random faults on REST calls, e.g. ``fault_rates(reset=0.05, http_502=0.05, flood=0.05)``;
        drawn from the seeded generator, so a seed replays the same sequence."""
        self.faults.set_rates(rates, slow_seconds)

    @locked
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

    @property
    def videos(self) -> dict[str, VideoUpload]:
        """Every video by id: what arrived (``received``, ``data``, ``digest()``), its metadata."""
        return video_store(self).videos

    @property
    def video_store(self) -> VideoStore:
        """The videos and the upload host's settings (``status_format``, ``keep_bytes``...)."""
        return video_store(self)

    @locked
    def inject_video(self, fault: VideoFault, *, at: int = 0) -> None:
        """Script an upload-host fault: ``"drop"`` (reset once ``at`` bytes are held),
        ``"http_500"`` (next upload POST), ``"lost_ack"`` (next POST stored, then no reply)."""
        video_store(self).inject(fault, at=at)

    def open_stream(self, request: Request) -> VideoSink | None:
        """For a transport that streams request bodies: a sink to feed ``request``'s body into
        (``write(block) -> bool``, then ``finish() -> (Response, Action)``), or None when this
        request is answered by :meth:`handle_ex` with its whole body. ``request.body`` is
        ignored; the request is logged here. Faults of :meth:`inject` do not apply to it."""
        with self.lock:
            try:
                incoming = parse_incoming(request)
            except BadRequest:
                return None
            opener = STREAM_ROUTES.get(incoming.path)
            if opener is None or request.method != "POST":
                return None
            self.requests.append(ReceivedRequest(request, incoming.path, incoming.path, incoming.params, self.now))
            return opener(self, request)

    def hold_for(self, request: Request) -> float:
        """How long a transport that can wait may hold ``request`` before answering it, in
        seconds (0: answer now). Only a long poll with nothing to return yet is held; hold it
        until :meth:`FakeBots.listen <okru_proto.testing.FakeBots.listen>` calls back or the
        time is up, then answer with :meth:`handle_ex`. In-process transports answer at once."""
        try:
            incoming = parse_incoming(request)
        except BadRequest:
            return 0.0
        return updates_hold(self, incoming)

    def handle_ex(self, request: Request) -> tuple[Response, Action]:
        """The response plus what the transport should do with it (delay, reset, truncate)."""
        try:
            with self.lock:
                return self._dispatch(request)
        except Exception as exc:  # a bug in the emulator must not look like a client bug
            page = html_page("500", f"<h1>HTTP Status 500 - emulator error</h1><pre>{type(exc).__name__}</pre>")
            return html_response(500, page), PLAIN

    def _dispatch(self, request: Request) -> tuple[Response, Action]:
        try:
            incoming = parse_incoming(request)
        except BadRequest:
            return tomcat_error(400, "Bad request"), PLAIN
        path = incoming.path
        name = rest_name(path, incoming.params)
        call = name if name else path
        self.requests.append(ReceivedRequest(request, path, call, incoming.params, self.now))

        fault = self.faults.take(call, name is not None)
        action = PLAIN
        if fault is not None:
            kind, delay = fault
            early = fault_response(kind, lambda: self.random_hex(16))
            if early is not None:
                return early, PLAIN
            if kind == "reset":
                return html_response(499, ""), Action(reset=True)
            if kind == "slow":
                action = Action(delay=delay)

        if name is not None:
            response = rest(self, incoming, name)
        elif path in STREAM_ROUTES and request.method == "POST":
            response, action = run_sink(self, request)
        else:
            response = (ROUTES.get(path) or ROUTES.get(path[:path.find("/", 1) + 1], _not_found))(self, incoming)
        if fault is not None and fault[0] == "truncated":
            action = Action(truncate_at=len(response.body) // 2)
        return response, action
