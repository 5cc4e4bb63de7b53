"""Who sent a request: the peer address, the hops a trusted proxy added, and the allow-list.

OK calls an app's server from published address ranges (docs/protocol.md §11.10 for webhooks),
so every app here refuses other sources with 403. This module owns
the rule for finding the source (``X-Forwarded-For`` is believed only for the hops that trusted
proxies added: a client can prepend anything to that header) and the log lines that make a
refusal visible: one WARNING per refused address and minute, naming the option that allows it,
and one note the first time ``X-Forwarded-For`` arrives while no proxy is trusted.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from okru_proto.errors import UsageError

__all__ = ["Address", "Network", "SourceCheck"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Refused addresses remembered for rate-limiting their WARNING (a scan cannot grow it further).
_REMEMBERED = 1024
#: Seconds between two WARNINGs about the same refused address.
_WARN_EVERY = 60.0


def networks(values: Iterable[str | Network] | str | Network, what: str) -> tuple[Network, ...]:
    """``values`` (CIDR strings, addresses or networks) as networks; a :class:`UsageError` naming
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


#: Peer addresses whose verdict is remembered (each request then skips parsing its address).
_VERDICTS = 4096


class SourceCheck:
    """The allow-list of one app: ``allowed`` networks (``None``: any source) behind
    ``trusted_proxies``. ``app`` names the app in log lines; ``option`` is its keyword that
    widens the list."""

    def __init__(self, allowed: Iterable[str | Network] | None, trusted_proxies: Iterable[str | Network], *,
                 log: logging.Logger, app: str = "webhook_app", option: str = "allowed_networks",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._app = app
        self._verdicts: dict[str, bool] = {}
        self.allowed = None if allowed is None else networks(allowed, option)
        self.proxies = networks(trusted_proxies, "trusted_proxies")
        self._log = log
        self._option = option
        self._clock = clock
        self._warned: OrderedDict[str, float] = OrderedDict()
        self._forwarded_noted = False

    @property
    def allowed(self) -> tuple[Network, ...] | None:
        """The accepted networks (``None``: any source); may be replaced while serving."""
        return self._allowed

    @allowed.setter
    def allowed(self, value: tuple[Network, ...] | None) -> None:
        self._allowed = value
        self._verdicts.clear()

    def _trusted(self, address: Address | None) -> bool:
        return address is not None and any(address in net for net in self.proxies)

    def client_address(self, scope: MutableMapping[str, Any]) -> Address | None:
        """The peer, or, when the peer is a trusted proxy, the nearest ``X-Forwarded-For`` hop
        that is not one."""
        client = scope.get("client")
        peer = _address(str(client[0])) if client else None
        forwarded: list[str] = []
        for name, value in scope.get("headers") or ():
            if name.lower() == b"x-forwarded-for":
                forwarded.extend(value.decode("latin-1").split(","))
        if not self._trusted(peer):
            if forwarded:
                self._note_forwarded(peer)
            return peer
        for hop in reversed(forwarded):
            address = _address(hop)
            if address is None:
                return None
            if not self._trusted(address):
                return address
        return peer

    def _note_forwarded(self, peer: object) -> None:
        if not self._forwarded_noted:
            self._forwarded_noted = True
            # Said once: the header is either a proxy nobody told the app about, or a client
            # posing as another address. Under uvicorn's defaults (proxy headers on, trusted for
            # 127.0.0.1) a local client's pose has already replaced the address this app sees.
            self._log.warning(
                "%s: a request carried X-Forwarded-For while no proxy is trusted, so the header was ignored "
                "and the address the server gave, %s, was checked. Behind a reverse proxy, pass "
                "trusted_proxies=[its address]. Note that uvicorn by default replaces that address with "
                "the header's last hop for requests from 127.0.0.1 (--forwarded-allow-ips), so any local "
                "client can pose as OK: run it with --no-proxy-headers (proxy_headers=False). "
                "This is said once", self._app, peer)

    def allows(self, scope: MutableMapping[str, Any]) -> bool:
        """True if the request may go on; a refusal is logged (rate-limited per address)."""
        allowed = self._allowed
        if allowed is None:
            return True
        if self.proxies:
            address = self.client_address(scope)
            if address is not None and any(address in net for net in allowed):
                return True
            self._warn(str(address) if address is not None else "an unknown address (no peer, or a forwarded hop that is not an address)")
            return False
        # No proxy is trusted, so the peer is the source whatever the headers say: its verdict
        # is remembered (a webhook sender is a handful of OK's addresses).
        client = scope.get("client")
        host = str(client[0]) if client else ""
        if not self._forwarded_noted:
            for name, _ in scope.get("headers") or ():
                if name.lower() == b"x-forwarded-for":
                    self._note_forwarded(_address(host) if host else None)
                    break
        verdict = self._verdicts.get(host)
        if verdict is None:
            address = _address(host) if host else None
            verdict = address is not None and any(address in net for net in allowed)
            if len(self._verdicts) >= _VERDICTS:
                self._verdicts.clear()
            self._verdicts[host] = verdict
        if not verdict:
            address = _address(host) if host else None
            self._warn(str(address) if address is not None else "an unknown address (no peer, or a forwarded hop that is not an address)")
        return verdict

    def _warn(self, who: str) -> None:
        now = self._clock()
        last = self._warned.get(who)
        if last is not None and now - last < _WARN_EVERY:
            return
        self._warned[who] = now
        self._warned.move_to_end(who)
        while len(self._warned) > _REMEMBERED:
            self._warned.popitem(last=False)
        self._log.warning("%s: refused a request from %s with 403: not in %s (OK's published ranges by default); "
                          "to accept it, pass %s=[...] with its network (or list your reverse proxy in trusted_proxies=), "
                          "or %s=None to accept any source "
                          "(for local tests)", self._app, who, self._option, self._option, self._option)
