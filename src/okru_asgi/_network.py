"""Who sent a request: the networks an app accepts, the reverse proxies it believes, and one
warning per refused address (so a log says once what to change, and a flood writes no more).

OK.ru publishes the ranges its servers call from (docs/protocol.md §11.10, §13.3). Behind a
reverse proxy the peer is the proxy, so the sender is read from ``X-Forwarded-For``, but only
the hops that trusted proxies added: a client can write anything at the start of that header.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections import OrderedDict
from collections.abc import Iterable, MutableMapping
from typing import Any

from okru_proto import UsageError

__all__ = ["Address", "Network", "RefusedLog", "client_address", "networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def networks(values: Iterable[str | Network], what: str) -> tuple[Network, ...]:
    """``values`` (CIDR strings, addresses or networks) as networks; :class:`UsageError` naming
    ``what`` for anything else."""
    if isinstance(values, (str, ipaddress.IPv4Network, ipaddress.IPv6Network)):
        values = (values,)
    try:
        return tuple(ipaddress.ip_network(v, strict=False) for v in values)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{what}: {exc} (give networks such as '217.20.145.192/28' or addresses)") from None


@functools.lru_cache(maxsize=4096)  # the same few peers (OK's servers, a proxy) again and again
def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(address: Address | None, nets: tuple[Network, ...]) -> bool:
    return address is not None and any(address in net for net in nets)


def client_address(scope: MutableMapping[str, Any], trusted_proxies: tuple[Network, ...]) -> Address | None:
    """The sender of an ASGI request: the peer, or, when the peer is a trusted proxy, the
    nearest ``X-Forwarded-For`` hop that is not one. None when unknown (no peer, a hop that is
    not an address)."""
    client = scope.get("client")
    peer = _address(str(client[0])) if client else None
    if not trusted_proxies or not _within(peer, trusted_proxies):
        return peer
    forwarded: list[str] = []
    for name, value in scope.get("headers") or ():
        if name.lower() == b"x-forwarded-for":
            forwarded.extend(value.decode("latin-1").split(","))
    for hop in reversed(forwarded):
        address = _address(hop)
        if address is None or not _within(address, trusted_proxies):
            return address
    return peer


class RefusedLog:
    """Logs one WARNING per refused address (the first time it is refused), remembering at most
    ``limit`` addresses (the oldest forgotten first), so a scan of the internet costs bounded
    memory and bounded log lines per address."""

    def __init__(self, log: logging.Logger, what: str, option: str, limit: int = 1024) -> None:
        self._log = log
        self._what = what
        self._option = option
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def refused(self, address: Address | None) -> None:
        key = "unknown" if address is None else str(address)
        if key in self._seen:
            return
        self._seen[key] = None
        if len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        if address is None:
            self._log.warning("%s: refused a request whose sender address is unknown (no peer address, or a "
                              "forwarded hop that is not an address); answered 403", self._what)
        else:
            self._log.warning("%s: refused a request from %s: not in %s (add it there if it is OK.ru's, or "
                              "list your reverse proxy in trusted_proxies=); answered 403 (logged once per "
                              "address)", self._what, key, self._option)
