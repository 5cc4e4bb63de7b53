"""The values that cross the core's boundary: everything an adapter hands the core or gets from it.

Secrets (:class:`Secret`, masked everywhere), requests and responses (:class:`Request`,
:class:`Response`), endpoints, the streamed request body an adapter sends in bounded blocks
(:class:`StreamedBody`, :class:`SourceRange`, :func:`plan_blocks`) and the token a session holds
(:class:`Token`). Small frozen values, validated when made, so the flows can trust them.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Union
from urllib.parse import parse_qsl, urlsplit

from ._errors import UsageError

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "SECRET_PARAM_NAMES",
    "BodySource",
    "Endpoints",
    "Headers",
    "Request",
    "Response",
    "Secret",
    "SourceRange",
    "StreamedBody",
    "Token",
    "check_base_url",
    "has_userinfo",
    "mask_query",
    "plan_blocks",
    "request_secrets",
    "reveal",
    "trusted_response",
]


HeadersInput = Mapping[str, str] | Iterable[tuple[str, str]]
Headers = tuple[tuple[str, str], ...]

#: Parameter names whose values are credentials. They are masked in every repr, URL shown in a
#: message, and log line (``code`` is a one-time authorization grant, as sensitive as a token).
SECRET_PARAM_NAMES = frozenset(
    {
        "access_token",
        "session_key",
        "session_secret_key",
        "refresh_token",
        "client_secret",
        "application_secret_key",
        "password",
        "fr.password",
        "code",
        "fr.token",
        "auth_token",
        # The upload URL's apiToken authorizes uploads to the user's albums for a day (§7.2).
        "apiToken",
    }
)


class Secret:
    """A credential that never shows itself in ``repr``/``str``/``format``.

    The plaintext is reached only through :meth:`reveal` (or :func:`reveal`), which the few
    places that must use it (signing, building a body) call explicitly.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value._value
        if not isinstance(value, str):
            raise UsageError(f"a secret must be a str, not {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return hmac.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("okru.Secret", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling keeps the value (an app may persist its session), but never via repr.
        return (Secret, (self._value,))


def reveal(value: Secret | str | None) -> str:
    """The plaintext of a :class:`Secret` (or a plain str passed through)."""
    if value is None:
        return ""
    if isinstance(value, Secret):
        return value._value
    return value


def mask_query(query: str) -> str:
    """A query string with every credential value replaced by ``***`` (for reprs and logs)."""
    if not query:
        return query
    parts = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        parts.append(f"{key}={'***' if key in SECRET_PARAM_NAMES and value else value}")
    return "&".join(parts)


def request_secrets(request: Request) -> list[str]:
    """The credential values a request carries (so they can be masked in whatever a server
    echoes back): values of :data:`SECRET_PARAM_NAMES` in its query and form body, and every
    cookie value (OK's login cookies are the session)."""
    found: list[str] = []
    query = urlsplit(request.url).query
    texts = [query] if query else []
    ctype = request.header("content-type")
    if (request.body and type(request.body) is bytes and ctype is not None
            and ctype.startswith("application/x-www-form-urlencoded")):
        texts.append(request.body.decode("ascii", "replace"))
    for text in texts:
        found += [v for k, v in parse_qsl(text, keep_blank_values=True) if k in SECRET_PARAM_NAMES and v]
    cookie = request.header("cookie")
    if cookie:
        found += [value.strip() for _, _, value in (c.partition("=") for c in cookie.split(";")) if value.strip()]
    return found


def _mask_url(url: str) -> str:
    base, sep, rest = url.partition("?")
    query, hsep, fragment = rest.partition("#")
    if base.lower().endswith("/upload.do") and query:
        # An upload host's URL (photos, videos, bot files): OK does not say which part of the
        # query authorizes the upload (its sig, expires...), so none of it is shown.
        query = "&".join(f"{part.partition('=')[0]}=***" for part in query.split("&"))
    masked = base + sep + mask_query(query) if sep else base
    if hsep:
        masked += "#" + mask_query(fragment)
    return masked


_METHODS = frozenset({"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"})


_BAD_VALUE = re.compile(r"[\r\n\x00]").search
_BAD_NAME = re.compile(r"[^!#$%&'*+\-.^_`|~0-9a-z]").search


def _normalize_headers(headers: HeadersInput) -> Headers:
    if type(headers) is tuple:
        # Fast path (every reply goes through here): already lower-case str pairs, nothing to fix.
        for item in headers:
            if (type(item) is not tuple or len(item) != 2 or type(item[0]) is not str
                    or type(item[1]) is not str or not item[0] or _BAD_NAME(item[0]) or _BAD_VALUE(item[1])):
                break
        else:
            return headers
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise UsageError(f"headers must be (name, value) pairs, got {item!r}") from None
        if not isinstance(name, str) or not isinstance(value, str):
            raise UsageError("header names and values must be str")
        if not name or any(c in name for c in " \t\r\n:"):
            raise UsageError(f"invalid header name {name!r}")
        if "\r" in value or "\n" in value or "\x00" in value:
            raise UsageError(f"header {name!r} has a line break or NUL in its value")
        out.append((name.lower(), value))
    return tuple(out)


def _header(headers: Headers, name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value
    return None


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request the core wants sent, exactly as given (no redirects, no added cookies).

    ``headers`` is a tuple of ``(lower-case name, value)`` pairs; a mapping is accepted and
    normalized. The repr masks credential parameters in the URL and never shows the body.
    ``body`` is bytes, or a :class:`~okru_proto.adapter.StreamedBody` the adapter streams (file uploads).
    """

    method: str
    url: str
    headers: Headers = ()
    body: bytes | StreamedBody = b""

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise UsageError(f"unsupported HTTP method {self.method!r}")
        if not isinstance(self.url, str) or not self.url.startswith(("https://", "http://")):
            raise UsageError(f"request URL must be absolute http(s), got {_mask_url(str(self.url))!r}")
        if type(self.body) is not bytes and not isinstance(self.body, (bytes, StreamedBody)):
            raise UsageError(f"request body must be bytes or a StreamedBody, not {type(self.body).__name__}")
        if self.headers:
            object.__setattr__(self, "headers", _normalize_headers(self.headers))

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        return _header(self.headers, name.lower())

    @property
    def host(self) -> str:
        """``host[:port]`` of the URL, lower-cased (the cookie and credential scope)."""
        return urlsplit(self.url).netloc.lower()

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self.headers)
        return (
            f"Request({self.method} {_mask_url(self.url)!r}, headers=[{names}], "
            f"body=<{len(self.body)} bytes>)"
        )


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP response as received (``headers`` as lower-case name/value pairs; body bytes)."""

    status: int
    headers: Headers = ()
    body: bytes = b""

    def __post_init__(self) -> None:
        if type(self.status) is not int or not 100 <= self.status <= 999:
            raise UsageError(f"HTTP status must be an int in 100..999, got {self.status!r}")
        if not isinstance(self.body, bytes):
            raise UsageError(f"response body must be bytes, not {type(self.body).__name__}")
        if self.headers:
            object.__setattr__(self, "headers", _normalize_headers(self.headers))

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        return _header(self.headers, name.lower())

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name`` (e.g. each ``set-cookie``)."""
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    def __repr__(self) -> str:
        ctype = self.header("content-type") or "-"
        return f"Response({self.status}, content_type={ctype!r}, body=<{len(self.body)} bytes>)"


_new = object.__new__
_set = object.__setattr__


def trusted_response(status: int, headers: Headers, body: bytes) -> Response:
    """A :class:`Response` built without :class:`Response`'s checks, for an adapter whose HTTP
    parser already enforced them (h11's ``_parsed=True`` idea): ``status`` an int in 100..999,
    ``headers`` ``(name, value)`` str pairs with lower-case names and no CR/LF/NUL, ``body``
    bytes. Skipping the second pass saves ~2.5 µs a reply; pass anything less and the core's
    invariants break, so when unsure call ``Response(...)``."""
    response = _new(Response)
    _set(response, "status", status)
    _set(response, "headers", headers)
    _set(response, "body", body)
    return response


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def has_userinfo(url: str) -> bool:
    """True when ``url``'s authority carries ``user[:password]@`` (even an empty one).

    okru refuses such URLs everywhere (endpoints, upload URLs, dialog redirects and forms): OK.ru
    never uses them, and the password would show in reprs, transport errors and logs.
    """
    return "@" in urlsplit(url).netloc


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://***@{host}" if parts.scheme else f"***@{host}"


def check_base_url(url: str, what: str) -> str:
    """Validate a base URL: https anywhere, plain http only for loopback hosts, no
    ``user:password@`` (the message never repeats the userinfo)."""
    if not isinstance(url, str):
        raise UsageError(f"{what} must be a str URL, not {type(url).__name__}")
    try:
        parts = urlsplit(url)
        userinfo = "@" in parts.netloc
    except ValueError:
        raise UsageError(f"{what} is not a valid URL") from None
    if userinfo:
        raise UsageError(f"{what} must not carry a user name or password (user:password@) in the URL, "
                         f"got {_without_userinfo(url)!r}; OK.ru uses none")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{what} must be an absolute https:// URL, got {url!r}")
    if parts.query or parts.fragment:
        raise UsageError(f"{what} must not carry a query or fragment, got {url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise UsageError(
            f"{what} {url!r} uses plain http:// for a non-loopback host; tokens would travel "
            "unencrypted. Use https:// (plain http is allowed only for 127.0.0.0/8, ::1, localhost)."
        )
    return url.rstrip("/")


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where OK.ru lives: ``api`` (REST and token.do) and ``connect`` (the OAuth dialogs).

    Both are overridable: tests and the emulator point them at loopback, iframe apps pass the
    ``api_server`` launch parameter (docs/protocol.md §1.1). Plain ``http://`` is refused unless the
    host is a loopback address.
    """

    api: str = "https://api.ok.ru"
    connect: str = "https://connect.ok.ru"
    rest_url: str = field(init=False, repr=False, compare=False)
    token_url: str = field(init=False, repr=False, compare=False)
    authorize_url: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        api = check_base_url(self.api, "Endpoints.api")
        connect = check_base_url(self.connect, "Endpoints.connect")
        object.__setattr__(self, "api", api)
        object.__setattr__(self, "connect", connect)
        object.__setattr__(self, "rest_url", api + "/fb.do")
        object.__setattr__(self, "token_url", api + "/oauth/token.do")
        object.__setattr__(self, "authorize_url", connect + "/oauth/authorize")


# -- The streamed request body: a pure description of bytes that an adapter sends in bounded blocks ----


#: The largest block an adapter reads from a source and writes to the socket at once (1 MiB:
#: large enough that per-block overhead is noise, small enough to bound memory).
DEFAULT_BLOCK_SIZE = 1 << 20

#: What a :class:`SourceRange` reads from: bytes-like data, a file path, or a binary file object
#: open for reading (seekable: a range may be read again after a dropped connection).
BodySource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", IO[bytes]]


def _is_memory(source: object) -> bool:
    return isinstance(source, (bytes, bytearray, memoryview))


@dataclass(frozen=True, slots=True)
class SourceRange:
    """``length`` bytes of ``source`` starting at ``offset`` (read by the adapter, never the core)."""

    source: BodySource
    offset: int
    length: int

    def __post_init__(self) -> None:
        if type(self.offset) is not int or type(self.length) is not int or self.offset < 0 or self.length < 0:
            raise UsageError(f"a source range needs int offset and length >= 0, got {self.offset!r}, {self.length!r}")
        if _is_memory(self.source) and self.offset + self.length > len(self.source):  # type: ignore[arg-type]
            raise UsageError(f"range {self.offset}+{self.length} is past the end of {len(self.source)} bytes"  # type: ignore[arg-type]
                             )

    def __repr__(self) -> str:
        kind = "bytes" if _is_memory(self.source) else (
            "path" if isinstance(self.source, (str, os.PathLike)) else type(self.source).__name__)
        return f"SourceRange(<{kind}>, offset={self.offset}, length={self.length})"


Part = bytes | SourceRange


@dataclass(frozen=True, slots=True)
class StreamedBody:
    """A request body made of parts, sent in order; ``len(body)`` is its exact size (the
    adapter sends it as ``Content-Length``, never chunked transfer encoding)."""

    parts: tuple[Part, ...]
    size: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        total = 0
        for part in self.parts:
            if type(part) is bytes:
                total += len(part)
            elif isinstance(part, SourceRange):
                total += part.length
            else:
                raise UsageError(f"a streamed body part is bytes or a SourceRange, not {type(part).__name__}")
        object.__setattr__(self, "size", total)

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return self.size > 0

    @property
    def in_memory(self) -> bool:
        """True when every source is bytes in memory (then :meth:`to_bytes` needs no I/O)."""
        return all(type(p) is bytes or _is_memory(p.source) for p in self.parts)  # type: ignore[union-attr]

    def to_bytes(self) -> bytes:
        """The whole body, for in-memory sources only (the emulator, tests). A file source is
        refused: reading it is an adapter's job."""
        out = bytearray()
        for part in self.parts:
            if type(part) is bytes:
                out += part
                continue
            assert isinstance(part, SourceRange)
            if not _is_memory(part.source):
                raise UsageError("this streamed body reads a file; only an adapter can send it")
            out += memoryview(part.source)[part.offset:part.offset + part.length]  # type: ignore[arg-type]
        return bytes(out)

    def __repr__(self) -> str:
        return f"StreamedBody(<{self.size} bytes in {len(self.parts)} parts>)"


def plan_blocks(body: StreamedBody, block_size: int = DEFAULT_BLOCK_SIZE) -> Iterator[bytes | SourceRange]:
    """What an adapter sends, in order, each at most ``block_size`` bytes: literal bytes (send
    them; in-memory sources come out as bytes too) or a :class:`SourceRange` of a file source
    (read exactly that, then send it). Pure: no source is touched."""
    if block_size < 1:
        raise UsageError("block_size must be >= 1")
    for part in body.parts:
        if type(part) is bytes:
            for start in range(0, len(part), block_size):
                yield part[start:start + block_size] if len(part) > block_size else part
            continue
        assert isinstance(part, SourceRange)
        memory = memoryview(part.source) if _is_memory(part.source) else None  # type: ignore[arg-type]
        end = part.offset + part.length
        for start in range(part.offset, end, block_size):
            stop = min(start + block_size, end)
            if memory is not None:
                yield bytes(memory[start:stop])
            else:
                yield SourceRange(part.source, start, stop - start)


# -- The token value: everything a session knows about the token it holds lives here ----


@dataclass(frozen=True, slots=True)
class Token:
    """What a grant yields: every field aiookru's sessions expose, secrets wrapped in :class:`Secret`.

    ``expires_at`` is absolute, computed from the ``now`` the flow was given; ``expires_in`` is
    OK's own value as an int (OK sends it as the JSON string ``"1800"``, or omits it).
    """

    access_token: Secret
    session_secret_key: Secret | None = None
    refresh_token: Secret | None = None
    token_type: str | None = None
    expires_in: int | None = None
    expires_at: float | None = None
    permissions_granted: str | None = None
    state: str | None = None
    uid: str | None = None
    api_server: str | None = None

    @property
    def session_key(self) -> Secret:
        """OK's name for the access token in the client-server circuit (alias)."""
        return self.access_token

    @property
    def permission_granted(self) -> str | None:
        """aiookru's spelling of :attr:`permissions_granted` (alias)."""
        return self.permissions_granted

    @property
    def permissions(self) -> tuple[str, ...]:
        """The granted scopes as a tuple (OK joins them with ``;``)."""
        if not self.permissions_granted:
            return ()
        text = self.permissions_granted.replace(",", ";")
        return tuple(p.strip() for p in text.split(";") if p.strip())

    def expired(self, now: float, margin: float = 0.0) -> bool:
        """True when the known expiry is within ``margin`` seconds of ``now``."""
        return self.expires_at is not None and now >= self.expires_at - margin
