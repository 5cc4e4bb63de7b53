"""What the emulator's records are: apps, users, groups, codes, tokens, dialog sessions, uploads.

Plain dataclasses and the scope names (docs/protocol.md §6); ``_store.Store`` holds, mints and ages
them. Everything that affects the shape of a record lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "KNOWN_SCOPES",
    "AccessToken",
    "App",
    "AuthCode",
    "DialogSession",
    "Group",
    "ReceivedRequest",
    "RefreshToken",
    "Topic",
    "UploadTicket",
    "UploadedPhoto",
    "User",
    "normalize_scope",
]

#: Scopes OK knows (docs/protocol.md §6); the demo app may request all of them.
KNOWN_SCOPES = (
    "VALUABLE_ACCESS",
    "LONG_ACCESS_TOKEN",
    "PHOTO_CONTENT",
    "GROUP_CONTENT",
    "VIDEO_CONTENT",
    "APP_INVITE",
    "GET_EMAIL",
    "SET_STATUS",
    "MESSAGING",
    "PUBLISH_NOTE",
    "PUBLISH_TO_STREAM",
    "LIKE",
)


def normalize_scope(name: str) -> str:
    # Legacy spellings with spaces ("VALUABLE ACCESS", docs/protocol.md §6) mean the same scope.
    return "_".join(name.strip().upper().split())


@dataclass
class App:
    app_id: str
    app_key: str
    app_secret_key: str
    redirect_uris: tuple[str, ...]
    client_oauth: bool
    permissions: frozenset[str]
    loopback_redirects: bool
    name: str = "Test application"


@dataclass
class User:
    uid: str
    login: str
    password: str
    first_name: str
    last_name: str
    gender: str = "male"
    birthday: str = "1990-01-01"
    locale: str = "ru"
    city: str = "Moscow"
    email: str | None = None
    friends: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    #: auth.login answers 402 / 403 and the dialog shows a captcha page (docs/protocol.md §3.3, §5).
    captcha: bool = False
    human_check: bool = False
    #: app_id -> scopes the user granted to that app (skip the permission page next time).
    grants: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class Group:
    gid: str
    name: str
    description: str = ""
    members: list[str] = field(default_factory=list)


@dataclass
class AuthCode:
    code: str
    app_id: str
    uid: str
    scopes: frozenset[str]
    redirect_uri: str
    expires_at: float
    used: bool = False


@dataclass
class AccessToken:
    token: str
    app_id: str
    uid: str
    scopes: frozenset[str]
    expires_at: float
    #: Set for implicit-grant / auth.login / issue_token sessions: they may sign with it
    #: (client-server) or with md5(token + app secret) (server-server); docs/protocol.md §2.2.
    session_secret_key: str | None
    long: bool = False
    #: Day number (clock seconds // 86400) of the last sliding extension (docs/protocol.md §3.5).
    extended_day: int | None = None
    revoked: bool = False


@dataclass
class RefreshToken:
    token: str
    app_id: str
    uid: str
    scopes: frozenset[str]
    expires_at: float


@dataclass
class DialogSession:
    cookie: str
    uid: str
    csrf: str
    pending: dict[str, str] | None = None


@dataclass
class UploadTicket:
    api_token: str
    app_id: str
    uid: str
    photo_ids: list[str]
    expires_at: float
    aid: str | None
    gid: str | None


@dataclass
class UploadedPhoto:
    photo_id: str
    token: str
    uid: str
    data: bytes
    filename: str | None
    committed: bool = False
    assigned_photo_id: str | None = None


@dataclass
class Topic:
    topic_id: str
    uid: str
    gid: str | None
    type: str
    attachment: dict[str, object]


@dataclass(frozen=True)
class ReceivedRequest:
    """One entry of ``FakeOK.requests``: the raw request and what the emulator made of it.

    ``method`` is the REST method name (``"users.getInfo"``) or, for other endpoints, the path
    (``"/oauth/token.do"``, ``"/dk"``); ``params`` the decoded query+form parameters.
    """

    request: object
    path: str
    method: str
    params: dict[str, str]
    time: float
