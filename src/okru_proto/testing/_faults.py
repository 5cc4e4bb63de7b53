"""Fault injection: everything that makes the emulator misbehave on purpose lives here.

Faults are scripted per method or per call, or drawn at random from seeded rates; this module
also builds what each fault answers (OK's API errors 8 and 2, nginx pages, an HTML body) and
the :class:`Action` a transport applies (delay, reset, truncate).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from .._errors import UsageError
from .._values import Response
from ._http import api_error, html_page, html_response

__all__ = ["FAULTS", "PLAIN", "Action", "Fault", "FaultPlan", "ScriptedFault", "fault_response"]

Fault = Literal[
    "flood", "service", "http_500", "http_502", "http_503", "html", "truncated", "slow", "reset"
]
FAULTS: tuple[str, ...] = get_args(Fault)

#: Faults that are OK API errors: they only make sense for REST calls.
API_FAULTS = frozenset({"flood", "service"})


@dataclass(frozen=True)
class Action:
    """What a transport should do with a response beyond sending it (``FakeOK.handle_ex``).

    ``delay``: wait this long before answering ("slow"). ``reset``: drop the connection without
    any response ("reset"). ``truncate_at``: announce the full Content-Length but send only this
    many body bytes, then close ("truncated"). The pure ``handle`` applies none of these except
    that it cuts the body at ``truncate_at``.
    """

    delay: float = 0.0
    reset: bool = False
    truncate_at: int | None = None

    @property
    def is_plain(self) -> bool:
        return not self.delay and not self.reset and self.truncate_at is None


PLAIN = Action()


@dataclass
class ScriptedFault:
    fault: str
    method: str | None
    times: int | None
    delay: float


class FaultPlan:
    """Scripted faults (first match wins, each used ``times`` times) and random fault rates."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.scripted: list[ScriptedFault] = []
        self.rates: dict[str, float] = {}
        self.slow_seconds = 1.0

    def add(self, fault: str, method: str | None, times: int | None, delay: float) -> None:
        if fault not in FAULTS:
            raise UsageError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        if times is not None and times < 1:
            raise UsageError("times must be >= 1 (or None for every matching call)")
        self.scripted.append(ScriptedFault(fault, method, times, delay))

    def set_rates(self, rates: dict[str, float], slow_seconds: float) -> None:
        for name, rate in rates.items():
            if name not in FAULTS:
                raise UsageError(f"unknown fault {name!r}; one of {', '.join(FAULTS)}")
            if not 0.0 <= rate <= 1.0:
                raise UsageError(f"rate for {name!r} must be within 0..1")
        self.rates = dict(rates)
        self.slow_seconds = slow_seconds

    def clear(self) -> None:
        self.scripted.clear()
        self.rates.clear()

    def take(self, call: str, is_rest: bool) -> tuple[str, float] | None:
        """The fault for this call, if any, consuming one use of a scripted fault."""
        for entry in self.scripted:
            if entry.method is None:
                # "Any call" means any REST call for API faults, any request for HTTP ones.
                if entry.fault in API_FAULTS and not is_rest:
                    continue
            elif entry.method != call:
                continue
            if entry.times is not None:
                entry.times -= 1
                if entry.times == 0:
                    self.scripted.remove(entry)
            return entry.fault, entry.delay
        if is_rest and self.rates:
            # One draw per fault kind, in a fixed order, so a seed replays the same faults.
            for fault in FAULTS:
                rate = self.rates.get(fault, 0.0)
                if rate > 0 and self._rng.random() < rate:
                    return fault, self.slow_seconds
        return None


def fault_response(kind: str, log_id: Callable[[], str]) -> Response | None:
    """The answer of a fault that replaces the real one, or None (``slow``, ``reset``, ``truncated``
    act on the real answer). ``log_id`` makes the id in the text of error 2; it is called only
    then, so other faults draw nothing from the seeded generator."""
    if kind == "flood":
        return api_error(8, "Call blocked due to flood protection")
    if kind == "service":
        # Real text (django-odnoklassniki-api, docs/protocol.md §4).
        return api_error(2, f"Service is temporary unavailable., logged by ID : {log_id()}")
    if kind.startswith("http_"):
        status = int(kind[5:])
        title = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}[status]
        return html_response(status, html_page(f"{status} {title}", f"<center><h1>{status} {title}</h1></center><hr><center>nginx</center>"))
    if kind == "html":
        return html_response(200, html_page("OK", "<h1>Technical works</h1><p>We will be back soon.</p>"))
    return None
