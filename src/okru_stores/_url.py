"""A Redis URL, read before redis-py sees it: everything that keeps a URL's password out of
reprs and errors, and turns a malformed URL into a :class:`~okru_proto.UsageError` a person can
act on, lives here.

redis-py reads the password from the URL's user part (``redis://:secret@host``) or from a
``?password=`` query parameter; a ``#``, ``?`` or ``/`` left un-encoded in the password splits
the URL elsewhere (RFC 3986: they end the authority), so redis-py would connect somewhere else or
fail with a message quoting the URL. Neither the password nor the URL holding it is ever shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from okru_proto import UsageError

__all__ = ["RedisURL", "read_redis_url"]

_SCHEMES = ("redis", "rediss", "unix")
#: After the last "@": a host, an optional port, then the URL's path and query (where an
#: un-encoded "/", "?" or "#" of the password would have ended the authority too early).
_AFTER_AT = re.compile(r"[^/?#@]*(?:/[^?#@]*)?(?:\?[^#@]*)?(?:#.*)?")


@dataclass(frozen=True)
class RedisURL:
    """``where``: the URL for people (password as ``***``); ``secrets``: every form of the
    password(s) it holds, to scrub from any message."""

    where: str
    secrets: tuple[str, ...] = field(repr=False, default=())

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def read_redis_url(url: str) -> RedisURL:
    """Check ``url`` and describe it safely; :class:`UsageError` (never quoting a password)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in _SCHEMES:
        raise UsageError("not a Redis URL: give redis://[:password@]host[:port][/db], rediss://... "
                         "(TLS) or unix:///path/to/socket")
    authority_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    at = rest.rfind("@")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if at > authority_end and _AFTER_AT.fullmatch(rest[at + 1:]) \
            and (parts is None or not parts.hostname or rest[:authority_end].endswith(":")):
        # An "@" after where the authority ended, and that authority is no host[:port]: the
        # password went on past a "/", "?" or "#" (a "@" in a query value leaves the host whole).
        raise UsageError("the password in the Redis URL holds a character that must be "
                         "percent-encoded ('#' as %23, '?' as %3F, '/' as %2F, '@' as %40, '%' as %25): "
                         "build the URL with urllib.parse.quote(password, safe='')")
    if parts is None:
        raise UsageError(f"the port in the Redis URL is not a number from 1 to 65535 ({_port_text(rest)})")
    if parts.scheme.lower() != "unix" and parts.path not in ("", "/") \
            and not (parts.path[1:].isascii() and parts.path[1:].isdigit()):
        # redis-py would quietly use database 0 for "/cache" or "/1/".
        raise UsageError("the database in the Redis URL must be a number, as in redis://host:6379/0")
    if port == 0:
        raise UsageError("the port in the Redis URL is not a number from 1 to 65535 (0)")
    secrets: list[str] = []
    if parts.password:
        secrets += [parts.password, unquote(parts.password)]
    query = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "password" and value:
            secrets += [value, quote(value, safe=""), quote(value)]
            value = "***"
        query.append(f"{name}={value}")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    user = ""
    if parts.username or parts.password:
        user = (parts.username or "") + (":***" if parts.password else "") + "@"
    where = f"{parts.scheme}://{user}{host}{'' if port is None else f':{port}'}{parts.path}"
    if query:
        where += "?" + "&".join(query)
    # Longest first, so a secret inside another one is not half-scrubbed.
    return RedisURL(where, tuple(sorted({s for s in secrets if s}, key=len, reverse=True)))


def _port_text(rest: str) -> str:
    host = rest.rpartition("@")[2]
    host = re.split(r"[/?#]", host, maxsplit=1)[0]
    return host.rpartition(":")[2] if ":" in host else "?"
