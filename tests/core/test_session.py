"""SessionCore against the pure emulator: every grant, every circuit, refresh-once, retries, and
a Hypothesis state machine over the token lifecycle with interleaved concurrent callers."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from okru_proto import (
    Endpoints,
    Error,
    OAuthError,
    RetryPolicy,
    SessionExpiredError,
    TransportError,
    UsageError,
)
from okru_proto.adapter import (
    API,
    AppSessionSpec,
    ClientSessionSpec,
    CodeSessionSpec,
    ImplicitSessionSpec,
    PasswordSessionSpec,
    PublicSessionSpec,
    RefreshNeeded,
    RefreshSessionSpec,
    Request,
    Response,
    ServerSessionSpec,
    SessionSpec,
    Sleep,
    run_sync,
)
from okru_proto.errors import FloodBlockedError
from okru_proto.testing import FakeOK

E = Endpoints(api="http://127.0.0.1:8080", connect="http://127.0.0.1:8080")
REDIRECT = "http://localhost/callback"


class _Sync(SessionSpec):
    """The smallest possible adapter: the pure emulator as the transport."""

    fake: FakeOK

    def _init_transport(self, *, fake: FakeOK, sleeps: list[float] | None = None) -> None:
        self.fake = fake
        self.sleeps = sleeps if sleeps is not None else []

    def _clock(self) -> float:
        return self.fake.now

    def send(self, request: Request) -> Response:
        return self.fake.handle(request)

    def call(self, method: str, params: Any = None) -> Any:
        return run_sync(self._core.call_flow(method, params), self.send, self.sleeps.append)

    def authorize(self) -> Any:
        return run_sync(self._core.authorize_flow(), self.send, self.sleeps.append)


class Code(CodeSessionSpec, _Sync): ...
class Implicit(ImplicitSessionSpec, _Sync): ...
class Password(PasswordSessionSpec, _Sync): ...
class Refresh(RefreshSessionSpec, _Sync): ...
class Client(ClientSessionSpec, _Sync): ...
class Server(ServerSessionSpec, _Sync): ...
class App(AppSessionSpec, _Sync): ...
class Public(PublicSessionSpec, _Sync): ...


@pytest.fixture
def fake() -> FakeOK:
    return FakeOK()


def code_session(fake: FakeOK, **options: Any) -> Code:
    code = fake.authorize_code(redirect_uri=REDIRECT, state="s")
    session = Code(fake.app_id, fake.app_key, fake.app_secret_key, code, REDIRECT, endpoints=E, fake=fake, **options)
    session.authorize()
    return session


def test_every_grant_and_circuit(fake):
    code = code_session(fake)
    assert code.core.circuit == "server" and code.refresh_token and code.expires_in == 1800
    assert code.token_type == "session" and code.session_key == code.access_token
    implicit = Implicit(int(fake.app_id), fake.app_key, fake.app_secret_key, fake.user_login, fake.user_password,
                        ["VALUABLE_ACCESS"], state="st", endpoints=E, fake=fake)
    implicit.authorize()
    assert implicit.core.circuit == "client" and implicit.state == "st"
    assert implicit.permission_granted == implicit.permissions_granted and "VALUABLE_ACCESS" in implicit.permissions_granted
    password = Password(fake.app_id, fake.app_key, fake.app_secret_key, fake.user_login, fake.user_password,
                        endpoints=E, fake=fake)
    password.authorize()
    assert password.core.circuit == "client" and password.uid == fake.user_id
    refresh = Refresh(fake.app_id, fake.app_key, fake.app_secret_key, code.refresh_token, endpoints=E, fake=fake)
    refresh.authorize()
    assert refresh.refresh_token == code.refresh_token and refresh.access_token != code.access_token
    client = Client(fake.app_id, fake.app_key, implicit.access_token, implicit.session_secret_key, endpoints=E,
                    fake=fake)
    server = Server(fake.app_id, fake.app_key, fake.app_secret_key, code.access_token, endpoints=E, fake=fake)
    for session in (code, implicit, password, refresh, client, server):
        assert API(session).users.getCurrentUser()["uid"] == fake.user_id
        assert API(session)("users.getLoggedInUser") == fake.user_id
    app = App(fake.app_id, fake.app_key, fake.app_secret_key, endpoints=E, fake=fake)
    assert app.core.circuit == "app"
    API(app).notifications.sendSimple(uid=fake.user_id, text="Привет")
    public = Public(endpoints=E, fake=fake)
    assert public.core.circuit == "public"


def test_params_reach_the_emulator_as_sent(fake):
    session = code_session(fake)
    result = API(session).users.getInfo(uids=[fake.user_id], fields=("name", "age"), emptyPictures=False)
    assert result[0]["uid"] == fake.user_id
    received = fake.calls("users.getInfo")[-1]
    assert received.params["uids"] == fake.user_id and received.params["emptyPictures"] == "false"


def test_expiry_refreshes_once_and_replays(fake):
    tokens = []
    session = code_session(fake, on_token=tokens.append)
    first = session.access_token
    fake.clock.advance(1801)
    assert API(session).friends.get()
    assert session.access_token != first and session.refresh_token is not None
    assert len(tokens) == 2 and session.core.generation == 2


def test_second_102_raises(fake):
    session = code_session(fake)
    fake.clock.advance(1801)
    flow = session.core.call_flow("friends.get")
    request = next(flow)
    expired = fake.handle(request)
    assert isinstance(flow.send(expired), RefreshNeeded)
    replay = flow.send(None)  # nobody refreshed (same generation): replays once more
    with pytest.raises(SessionExpiredError):
        flow.send(fake.handle(replay))


def test_no_refresh_without_secret_or_when_off(fake):
    session = code_session(fake, auto_refresh=False)
    fake.clock.advance(1801)
    with pytest.raises(SessionExpiredError):
        API(session).friends.get()
    implicit = Implicit(fake.app_id, fake.app_key, None, fake.user_login, fake.user_password, endpoints=E, fake=fake)
    implicit.authorize()
    assert not implicit.core.can_refresh


def test_refresh_before_expiry(fake):
    session = code_session(fake, refresh_before=60)
    fake.clock.advance(1750)
    API(session).friends.get()
    assert len(fake.calls("friends.get")) == 1 and session.core.generation == 2


def test_refresh_failure_is_an_oauth_error(fake):
    session = code_session(fake)
    fake.clock.advance(31 * 24 * 3600)  # refresh token dead too
    with pytest.raises(OAuthError):
        API(session).friends.get()


def test_retry_policy_with_fake_sleep(fake):
    sleeps: list[float] = []
    session = code_session(fake, retry=RetryPolicy(attempts=3, base=1, cap=4, random=lambda: 0.5), sleeps=sleeps)
    fake.inject("flood", method="friends.get", times=2)
    assert API(session).friends.get()
    assert sleeps == [0.75, 1.5]
    fake.inject("flood", method="friends.get", times=5)
    with pytest.raises(FloodBlockedError):
        API(session).friends.get()
    no_retry = code_session(fake)
    fake.inject("flood", method="friends.get", times=1)
    with pytest.raises(FloodBlockedError):
        API(no_retry).friends.get()


def test_transport_errors_are_retried_by_the_policy(fake):
    session = code_session(fake, retry=RetryPolicy(attempts=1, random=lambda: 0.0))
    flow = session.core.call_flow("friends.get")
    next(flow)
    assert isinstance(flow.throw(TransportError("reset")), Sleep)
    request = flow.send(None)
    with pytest.raises(StopIteration) as done:
        flow.send(fake.handle(request))
    assert isinstance(done.value.value, list)


def test_pass_error_returns_raw_dict(fake):
    session = code_session(fake, pass_error=True)
    result = API(session).no.suchMethod()
    assert result["error_code"] == 3 and "error_msg" in result


def test_usage_errors(fake):
    with pytest.raises(UsageError):
        Code("not-numeric", "K", "S", "c", REDIRECT, fake=fake)
    with pytest.raises(UsageError):
        Code(fake.app_id, fake.app_key, fake.app_secret_key, "c", REDIRECT, fake=fake, http_method="PUT")
    unauthorized = Code(fake.app_id, fake.app_key, fake.app_secret_key, "c", REDIRECT, endpoints=E, fake=fake)
    with pytest.raises(UsageError):
        API(unauthorized).users.getCurrentUser()
    with pytest.raises(UsageError):
        Server(fake.app_id, fake.app_key, "", "tok", fake=fake)
    with pytest.raises(UsageError):
        API(unauthorized)()
    with pytest.raises(TypeError):
        Code(fake.app_id, fake.app_key, fake.app_secret_key, "c", REDIRECT, fake=fake, bogus=1)


def test_no_secret_in_repr_or_logs(fake, caplog):
    caplog.set_level(logging.DEBUG, logger="okru")
    session = code_session(fake)
    secrets = [session.access_token, session.refresh_token, fake.app_secret_key]
    API(session).friends.get()
    fake.inject("html", method="friends.get")
    with pytest.raises(Error) as info:
        API(session).friends.get()
    text = " ".join([repr(session), str(session), repr(session.core), repr(session.token), str(info.value),
                     caplog.text])
    assert "friends.get -> HTTP 200" in caplog.text
    for secret in secrets:
        assert secret and secret not in text


def _round_robin(flows: list[Any], fake: FakeOK, session: _Sync) -> list[Any]:
    """Interleave flows one effect at a time, as concurrent tasks would; RefreshNeeded is handled
    like the adapters' drivers do under their lock (refresh only if nobody did)."""
    results: list[Any] = [None] * len(flows)
    pending = {i: next(f) for i, f in enumerate(flows)}
    while pending:
        for i in list(pending):
            effect = pending[i]
            try:
                if isinstance(effect, Request):
                    pending[i] = flows[i].send(fake.handle(effect))
                elif isinstance(effect, RefreshNeeded):
                    if effect.target.generation == effect.generation:
                        run_sync(effect.target.refresh_flow(), fake.handle, lambda s: None)
                    pending[i] = flows[i].send(None)
                else:
                    pending[i] = flows[i].send(None)
            except StopIteration as done:
                results[i] = done.value
                del pending[i]
            except Error as exc:
                results[i] = exc
                del pending[i]
    return results


class TokenLifecycle(RuleBasedStateMachine):
    """Calls, clock jumps, refresh failures and concurrent callers on one session."""

    @initialize()
    def start(self) -> None:
        self.fake = FakeOK()
        self.session = code_session(self.fake)
        self.refresh_possible = True

    def _expired(self) -> bool:
        token = self.session.token
        return token is not None and token.expires_at is not None and self.fake.now >= token.expires_at

    @rule(seconds=st.sampled_from([0, 60, 1000, 1801, 3 * 24 * 3600, 31 * 24 * 3600]))
    def advance(self, seconds: int) -> None:
        self.fake.clock.advance(seconds)

    @rule()
    def call(self) -> None:
        expired = self._expired()
        before = len(self.fake.calls("oauth/token.do")) if hasattr(self.fake, "calls") else None
        generation = self.session.core.generation
        try:
            result = API(self.session).friends.get()
        except OAuthError:
            assert expired, "refresh failed although the token had not expired"
            self.refresh_possible = False
            return
        except SessionExpiredError:
            assert not self.refresh_possible
            return
        assert isinstance(result, list)
        assert self.session.core.generation == generation + (1 if expired else 0)
        del before

    @precondition(lambda self: self.refresh_possible)
    @rule(n=st.integers(2, 12))
    def concurrent_calls(self, n: int) -> None:
        expired = self._expired()
        generation = self.session.core.generation
        flows = [self.session.core.call_flow("friends.get") for _ in range(n)]
        results = _round_robin(flows, self.fake, self.session)
        if any(isinstance(r, OAuthError) for r in results):
            assert expired
            self.refresh_possible = False
            return
        assert all(isinstance(r, list) for r in results), results
        # exactly one refresh for all n callers when the token had expired, none otherwise
        assert self.session.core.generation == generation + (1 if expired else 0)

    @invariant()
    def secrets_hidden(self) -> None:
        if getattr(self, "session", None) is not None and self.session.access_token:
            assert self.session.access_token not in repr(self.session.core)


TestTokenLifecycle = TokenLifecycle.TestCase
TestTokenLifecycle.settings = settings(max_examples=40, stateful_step_count=12, deadline=None)


def test_refresh_is_retried_by_the_policy(fake):
    sleeps: list[float] = []
    session = code_session(fake, retry=RetryPolicy(attempts=2, base=1, random=lambda: 0.0), sleeps=sleeps)
    fake.clock.advance(1801)
    fake.inject("http_502", method="/oauth/token.do", times=1)
    assert API(session).friends.get()
    assert sleeps == [0.5] and session.core.generation == 2


def test_api_children_are_cached_and_capped() -> None:
    calls: list[tuple[str, object]] = []

    class Recorder:
        def call(self, method: str, params: object) -> None:
            calls.append((method, params))

    api = API(Recorder())
    assert api.users is api.users
    assert api.users.getInfo is api.users.getInfo
    api.users.getInfo(uids="1")
    api.users.getInfo(uids="2")
    assert calls == [("users.getInfo", {"uids": "1"}), ("users.getInfo", {"uids": "2"})]
    for i in range(1000):  # names built from data: still correct, the cache stays bounded
        assert repr(getattr(api, f"g{i}").m) == f"API('g{i}.m')"
    assert len(api.__dict__) <= 256
