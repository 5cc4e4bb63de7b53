"""Hypothesis state machine: tokens, refresh and the clock behave as docs/protocol.md §3.5 says."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, rule

from okru_proto.adapter import Request
from okru_proto.testing import FakeOK
from tests.emulator.helpers import BASE, body, call, error_code

DAY = 86400


class TokenLifecycle(RuleBasedStateMachine):
    access = Bundle("access")
    refresh = Bundle("refresh")

    def __init__(self) -> None:
        super().__init__()
        self.fake = FakeOK()
        # token -> [expires_at, long, extended_day]
        self.model: dict[str, list[float]] = {}
        self.refresh_expiry: dict[str, tuple[float, bool]] = {}
        self.secrets: dict[str, str] = {}
        self._last_refresh = ""

    def _remember(self, token: str, long: bool) -> None:
        now = self.fake.now
        self.model[token] = [now + (30 * DAY if long else 1800), float(long), float(now // DAY)]

    @rule(target=access, long=st.booleans())
    def issue(self, long: bool) -> str:
        tok = self.fake.issue_token(long=long)
        self._remember(tok["access_token"], long)
        self.secrets[tok["access_token"]] = tok["session_secret_key"]
        self.refresh_expiry[tok["refresh_token"]] = (self.fake.now + 30 * DAY, long)
        self._last_refresh = tok["refresh_token"]
        return tok["access_token"]

    @rule(target=refresh, token=access)
    def keep_refresh(self, token: str) -> str:
        return self._last_refresh  # the refresh token of the latest issue_token

    @rule(seconds=st.sampled_from([1, 60, 1799, 1800, 3600, DAY - 1, DAY, 7 * DAY, 29 * DAY, 31 * DAY]))
    def advance(self, seconds: int) -> None:
        self.fake.clock.advance(seconds)

    @rule(token=access)
    def use(self, token: str) -> None:
        expires_at, long, day = self.model[token]
        now = self.fake.now
        response = call(self.fake, "users.getLoggedInUser",
                        token={"access_token": token, "session_secret_key": self.secrets[token]}, circuit="server")
        if now < expires_at:
            assert body(response) == self.fake.user_id
            if long and now // DAY != day:
                self.model[token] = [now + 30 * DAY, long, float(now // DAY)]
        else:
            assert error_code(response) == 102

    @rule(target=access, token=consumes(refresh))
    def refresh_grant(self, token: str) -> str:
        expires_at, long = self.refresh_expiry[token]
        params = {"grant_type": "refresh_token", "refresh_token": token, "client_id": self.fake.app_id,
                  "client_secret": self.fake.app_secret_key}
        response = self.fake.handle(Request("POST", f"{BASE}/oauth/token.do?" + urlencode(params)))
        result = body(response)
        self.refresh_expiry[token] = (expires_at, long)
        if self.fake.now < expires_at:
            assert result["expires_in"] == str(30 * DAY if long else 1800) and "refresh_token" not in result
            self._remember(result["access_token"], long)
            self.secrets[result["access_token"]] = ""
            return str(result["access_token"])
        assert result["error"] == "invalid_grant"
        return next(iter(self.model))


TestTokenLifecycle = TokenLifecycle.TestCase
