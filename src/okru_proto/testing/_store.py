"""The emulator's state: everything that creates, finds or ages a record lives here.

:class:`Store` holds the registries (apps, users, groups), the grants in flight (codes, access
and refresh tokens, dialog sessions, upload tickets), what calls left behind (photos, topics,
notifications, the request log), the clock, the seeded random generator and the lock. It mints
tokens and codes with their lifetimes (docs/protocol.md §3.1, §3.5) and slides long tokens, so every
lifetime rule is in this one module. Endpoint modules take a ``Store``; ``FakeOK`` is one.
"""

from __future__ import annotations

import functools
import random
import string
import threading
from collections.abc import Callable, Iterable
from typing import Concatenate, ParamSpec, TypeVar

from .._errors import UsageError
from ._api_errors import ApiFail
from ._clock import Clock, FakeClock
from ._model import (
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

__all__ = [
    "ACCESS_TOKEN_TTL",
    "CODE_TTL",
    "LONG_TOKEN_TTL",
    "REFRESH_TOKEN_TTL",
    "UPLOAD_TTL",
    "Store",
    "locked",
]

ACCESS_TOKEN_TTL = 30 * 60  # docs/protocol.md §3.5: expires_in "1800"
LONG_TOKEN_TTL = 30 * 86400  # LONG_ACCESS_TOKEN: 30 days, sliding (§3.5)
REFRESH_TOKEN_TTL = 30 * 86400  # §3.5
CODE_TTL = 2 * 60  # "active for 2 minutes" (§3.1)
UPLOAD_TTL = 24 * 3600  # ttl_ms 86399988 in the doc example (§7.2)

_ALNUM = string.ascii_lowercase + string.digits

S = TypeVar("S", bound="Store")
P = ParamSpec("P")
R = TypeVar("R")


def locked(func: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Hold the store's lock for the whole call (a setup call must not interleave a request)."""

    @functools.wraps(func)
    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.lock:
            return func(self, *args, **kwargs)

    return wrapper


class Store:
    """The records of one emulated OK.ru, its clock and its seeded randomness."""

    def __init__(self, *, clock: Clock | None = None, seed: int = 0) -> None:
        self.clock: Clock = clock if clock is not None else FakeClock()
        self.rng = random.Random(seed)
        #: HTTP status of token.do's JSON errors. OK's is unknown (docs/protocol.md §3.1 "NOT FOUND");
        #: 400 follows RFC 6749 §5.2. Set to 200 to test a client against the other choice.
        self.oauth_error_status = 400
        #: OK keeps the refresh token on refresh (docs/protocol.md §3.4); True makes token.do rotate it
        #: (a new one in the reply, the old one void), as many OAuth servers do, to test clients
        #: that share tokens across processes.
        self.rotate_refresh_tokens = False
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

    # -- registries --------------------------------------------------------------------------

    @locked
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

    @locked
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

    @locked
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

    def app_of_call(self, params: dict[str, str]) -> App:
        """The app a REST call names by ``application_key``, or OK's error 101."""
        app_key = params.get("application_key")
        if not app_key:
            raise ApiFail(101, "No application key")
        app = self.app_by_key(app_key)
        if app is None:
            raise ApiFail(101, "Application not exist")
        return app

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

    # -- codes and tokens ----------------------------------------------------------------------

    def grantable(self, app: App, scope: Iterable[str]) -> frozenset[str]:
        return frozenset(normalize_scope(s) for s in scope if s.strip()) & app.permissions

    def new_access_token(
        self, app: App, uid: str, scopes: frozenset[str], *, with_session_secret: bool
    ) -> AccessToken:
        long = "LONG_ACCESS_TOKEN" in scopes
        # Shaped like real tokens ("dwipa.7912dvrsxji0049e565qh4a3k3d", docs/protocol.md §3.1).
        token = f"{self.random_string(5)}.{self.random_string(32)}"
        secret = self.random_hex() if with_session_secret else None
        return self.put_access_token(token, app, uid, scopes, LONG_TOKEN_TTL if long else ACCESS_TOKEN_TTL, secret)

    def put_access_token(
        self, token: str, app: App, uid: str, scopes: frozenset[str], ttl: float, session_secret_key: str | None
    ) -> AccessToken:
        """Store an access token of a chosen value; a LONG_ACCESS_TOKEN one slides from today."""
        long = "LONG_ACCESS_TOKEN" in scopes
        record = AccessToken(
            token, app.app_id, uid, scopes, self.now + ttl, session_secret_key, long=long,
            extended_day=int(self.now // 86400) if long else None,
        )
        self.tokens[token] = record
        return record

    def new_refresh_token(self, app: App, uid: str, scopes: frozenset[str]) -> RefreshToken:
        # "971547395341_382ca2a1321d0c24cfd1ef1964e2f4ea0d_573991092e" (docs/protocol.md §3.1)
        token = f"{uid}_{self.random_hex(34)}_{self.random_hex(10)}"
        record = RefreshToken(token, app.app_id, uid, scopes, self.now + REFRESH_TOKEN_TTL)
        self.refresh_tokens[token] = record
        return record

    def new_code(self, app: App, uid: str, scopes: frozenset[str], redirect_uri: str) -> str:
        # Codes may contain "/" (PHP test "someCode/1", docs/protocol.md §3.1): clients must encode.
        code = f"{self.random_string(24)}/{self.random_string(2, string.digits)}"
        self.codes[code] = AuthCode(code, app.app_id, uid, scopes, redirect_uri, self.now + CODE_TTL)
        return code

    def expires_in(self, token: AccessToken) -> str:
        return str(max(0, int(token.expires_at - self.now)))

    def slide(self, token: AccessToken) -> None:
        """A call on a long token: the sliding 30-day extension, at most once per day (§3.5)."""
        day = int(self.now // 86400)
        if token.extended_day != day:
            token.extended_day = day
            token.expires_at = self.now + LONG_TOKEN_TTL

    def touch(self, token: AccessToken) -> None:
        """auth.touchSession on a long token: "30 days from the call" (§3.5)."""
        token.expires_at = self.now + LONG_TOKEN_TTL
