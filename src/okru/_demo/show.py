"""How ``okru demo`` shows a step: what the emulator received (secrets masked) and what came back.

:class:`Show` holds the emulator, its URL and the output stream; its ``sent``/``got``/``note``
lines are the demo's whole output format. :func:`check` and :class:`DemoCheckFailed` let a step
say that a result is not what the emulator should have answered.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from okru_proto import Endpoints, Token
from okru_proto.testing import FakeOK

from .._output import dump_json, for_stream, mask, mask_params

__all__ = ["DemoCheckFailed", "Show", "check", "token_summary"]

#: REST parameters every call carries; shown only with --verbose.
_ROUTINE = ("application_key", "format", "method")
#: Credentials in the emulator's request log beyond the core's SECRET_PARAM_NAMES.
_ALSO_SECRET = ("apiToken", "token", "photos")


class DemoCheckFailed(Exception):
    """A step ran but the result is not what the emulator should have answered."""


def check(condition: bool, what: str) -> None:
    if not condition:
        raise DemoCheckFailed(what)


def token_summary(token: Token | None) -> str:
    if token is None:
        return "(no token)"
    parts = [f"access_token={mask(token.access_token.reveal())}"]
    if token.session_secret_key:
        parts.append(f"session_secret_key={mask(token.session_secret_key.reveal(), hint=False)}")
    if token.refresh_token:
        parts.append(f"refresh_token={mask(token.refresh_token.reveal())}")
    if token.expires_in is not None:
        parts.append(f"expires_in={token.expires_in}")
    if token.permissions_granted:
        parts.append(f"permissions={token.permissions_granted}")
    return " ".join(parts)


class Show:
    """The demo's shared state (one emulator ``fake`` served on ``url``) and its output lines."""

    def __init__(self, fake: FakeOK, url: str, *, verbose: bool = False, out: TextIO | None = None) -> None:
        self.fake = fake
        self.url = url
        self.endpoints = Endpoints(api=url, connect=url)
        self.verbose = verbose
        self.out = out or sys.stdout
        self._seen = 0
        #: Credentials that may appear inside other values (photo upload tokens in an attachment).
        self._scrub: list[str] = []

    # -- printing ---------------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        # ✔ ✘ → ← … become ASCII on a stdout that cannot encode them (PYTHONIOENCODING=ascii).
        print(for_stream(text, self.out), file=self.out, flush=True)

    def _clip(self, text: str, width: int = 160) -> str:
        if self.verbose or len(text) <= width:
            return text
        return text[: width - 1] + "…"

    def sent(self) -> None:
        """One line per request the emulator received since the last call (secrets masked)."""
        new = self.fake.requests[self._seen:]
        self._seen = len(self.fake.requests)
        for received in new:
            params = {k: ("***" if k in _ALSO_SECRET and v else v) for k, v in received.params.items()}
            params = mask_params(params, short_sig=not self.verbose)
            http = getattr(received.request, "method", "?")
            what = received.path
            if received.method != received.path:  # a REST call: name the method
                what = f"{received.path} {received.method}"
                if not self.verbose:
                    params = {k: v for k, v in params.items() if k not in _ROUTINE}
            if not self.verbose and received.path == "/dk":
                params = {k: v for k, v in params.items() if not k.startswith("st.") or k == "st.cmd"}
            shown = " ".join(f"{k}={v}" for k, v in params.items())
            for secret in self._scrub:
                shown = shown.replace(secret, "***")
            self.say(self._clip(f"    → {http} {what}  {shown}".rstrip()))

    def got(self, label: str, value: Any) -> None:
        text = value if isinstance(value, str) else dump_json(value, indent=None)
        self.say(self._clip(f"    ← {label}: {text}"))

    def note(self, text: str, *, clip: bool = True) -> None:
        self.say(self._clip(f"    {text}") if clip else f"    {text}")

    def session_options(self, **extra: Any) -> dict[str, Any]:
        return {"endpoints": self.endpoints, **extra}

    def issued(self, scope: tuple[str, ...] = ("VALUABLE_ACCESS",)) -> dict[str, str]:
        """A fresh token from the emulator (as if the user had logged in before)."""
        issued = self.fake.issue_token(scope=scope)
        self._seen = len(self.fake.requests)
        return issued
