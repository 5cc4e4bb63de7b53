"""Who sent a request: the peer address, the hops a trusted proxy added, and the allow-list.

OK calls an app's server from published address ranges (docs/protocol.md §11.10 for webhooks,
§13 for payment callbacks), so every app here refuses other sources with 403. This module owns
the rule for finding the source (``X-Forwarded-For`` is believed only for the hops that trusted
proxies added: a client can write anything at the start of that header) and the log lines that
make a refusal visible: one WARNING per refused address and minute, naming the option that
allows it, and one note the first time ``X-Forwarded-For`` arrives while no proxy is trusted.
Memory stays bounded whatever a scan of the internet sends: the decisions and the warned
addresses are remembered for at most a few thousand senders.
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

__all__ = ["Address", "Network", "SourceCheck", "networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Senders whose decision (and refusal WARNING time) is remembered; the oldest go first.
_REMEMBERED = 4096
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


@functools.lru_cache(maxsize=_REMEMBERED)  # the same few peers (OK's servers, a proxy) again and again
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


class SourceCheck:
    """The allow-list of one app: ``allowed`` networks (``None``: any source) behind
    ``trusted_proxies``. ``app`` names the app in log lines; ``option`` is its keyword that
    widens the list."""

    def __init__(self, allowed: Iterable[str | Network] | None, trusted_proxies: Iterable[str | Network], *,
                 log: logging.Logger, app: str = "webhook_app", option: str = "allowed_networks",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.allowed = None if allowed is None else networks(allowed, option)
        self.proxies = networks(trusted_proxies, "trusted_proxies")
        self._log = log
        self._app = app
        self._option = option
        self._clock = clock
        self._decided: dict[Address | None, bool] = {}
        self._warned: OrderedDict[str, float] = OrderedDict()
        self._forwarded_noted = False

    def client_address(self, scope: MutableMapping[str, Any]) -> Address | None:
        """The peer, or, when the peer is a trusted proxy, the nearest ``X-Forwarded-For`` hop
        that is not one. None when unknown (no peer, a hop that is not an address)."""
        client = scope.get("client")
        peer = _address(str(client[0])) if client else None
        if self.proxies and _within(peer, self.proxies):
            forwarded: list[str] = []
            for name, value in scope.get("headers") or ():
                if name.lower() == b"x-forwarded-for":
                    forwarded.extend(value.decode("latin-1").split(","))
            for hop in reversed(forwarded):
                address = _address(hop)
                if address is None or not _within(address, self.proxies):
                    return address
            return peer
        if not self._forwarded_noted and any(name.lower() == b"x-forwarded-for"
                                             for name, _ in scope.get("headers") or ()):
            self._forwarded_noted = True
            self._log.warning(
                "%s: a request carried X-Forwarded-For but no proxy is trusted, so it was ignored and the "
                "peer address %s used; behind a reverse proxy, pass trusted_proxies=[its address] (and check "
                "that your ASGI server does not rewrite the client address from that header itself, as "
                "uvicorn does by default for 127.0.0.1: --forwarded-allow-ips)", self._app, peer)
        return peer

    def allows(self, scope: MutableMapping[str, Any]) -> bool:
        """True if the request may go on; a refusal is logged (rate-limited per address)."""
        if self.allowed is None:
            return True
        address = self.client_address(scope)
        allowed = self._decided.get(address)
        if allowed is None:  # the same few senders again and again: decided once each
            allowed = _within(address, self.allowed)
            if len(self._decided) >= _REMEMBERED:
                self._decided.clear()
            self._decided[address] = allowed
        if not allowed:
            self._warn(str(address) if address is not None else "an unknown address")
        return allowed

    def _warn(self, who: str) -> None:
        now = self._clock()
        last = self._warned.get(who)
        if last is not None and now - last < _WARN_EVERY:
            return
        self._warned[who] = now
        self._warned.move_to_end(who)
        while len(self._warned) > _REMEMBERED:
            self._warned.popitem(last=False)
        self._log.warning("%s: refused a request from %s with 403: not in %s (OK's published ranges by "
                          "default); to accept it, pass %s=[...] with its network (or list your reverse proxy "
                          "in trusted_proxies=), or %s=None to accept any source (for local tests)",
                          self._app, who, self._option, self._option, self._option)
