"""``okru demo``: the whole library against the emulator on loopback, step by step.

Each step prints what was sent (from the emulator's request log, secrets masked) and what came
back, then ✔ or ✘. Steps are independent (each gets its own token from the emulator when it
needs one), so one failure does not hide the others; the exit code is 5 when any step failed.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import urlencode

from okru_proto import Endpoints, Photo, Token, UsageError, authorize_url, photo_media
from okru_proto.adapter import parse_callback
from okru_proto.errors import MethodNotFoundError, StateMismatchError
from okru_proto.testing import FakeOK

from ._output import (
    EXIT_DEMO,
    EXIT_OK,
    CLIError,
    describe_error,
    dump_json,
    for_stream,
    mask,
    mask_params,
    one_line,
)

__all__ = ["Demo", "run_demo"]

# A 1x1 GIF: the smallest real image for the upload step.
_GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
        b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
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


class Demo:
    """The steps, sharing one emulator (``fake``) served on ``url``."""

    def __init__(self, fake: FakeOK, url: str, *, verbose: bool = False, out: TextIO | None = None) -> None:
        self.fake = fake
        self.url = url
        self.endpoints = Endpoints(api=url, connect=url)
        self.verbose = verbose
        self.out = out or sys.stdout
        self._seen = 0
        #: Credentials that may appear inside other values (photo upload tokens in an attachment).
        self._scrub: list[str] = []
        self.steps: list[tuple[str, Callable[[], None]]] = [
            ("Authorization-code grant: authorize URL, callback with state, code exchange", self.code_grant),
            ("Implicit grant through OK's login and permission dialogs", self.implicit_grant),
            ("Password grant (auth.login)", self.password_grant),
            ("Refresh grant: a new access token from a refresh token", self.refresh_grant),
            ("Client-server circuit: signed with the session secret", self.client_circuit),
            ("Server-server circuit: signed with md5(access_token + app secret)", self.server_circuit),
            ("Session-less circuit: notifications.sendSimple signed with the app secret", self.app_circuit),
            ("Parameters: a list, false, 0 and Cyrillic JSON, exactly as signed and sent", self.params),
            ("An API error: an unknown method (error 3), raised and with pass_error", self.api_error),
            ("Expiry: the token expires, okru refreshes it and repeats the call", self.expiry_refresh),
            ("The same call through all three adapters: httpx sync, httpx async, trio", self.adapters),
            ("Photo upload: getUploadUrl, multipart upload, commit, then a post with the photo", self.upload),
            ("Paging: group.getMembers by anchor, photos.getPhotos (legacy shape)", self.paging),
        ]

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

    # -- the steps --------------------------------------------------------------------------
    def code_grant(self) -> None:
        from okru_httpx import sync

        fake = self.fake
        redirect_uri = "http://127.0.0.1:8765/callback"
        state = secrets.token_urlsafe(16)
        url = authorize_url(fake.app_id, redirect_uri=redirect_uri, scope=["VALUABLE_ACCESS"], state=state,
                            endpoints=self.endpoints)
        self.note(f"1. send the user to  {url}", clip=False)
        code = fake.authorize_code(redirect_uri=redirect_uri, scope=["VALUABLE_ACCESS"], state=state)
        callback = f"{redirect_uri}?{urlencode({'code': code, 'state': state})}"
        self.note(f"2. the user allows; the browser comes back to  {redirect_uri}?code={mask(code)}&state={state}")
        try:
            parse_callback(f"{redirect_uri}?{urlencode({'code': code, 'state': 'forged'})}", expected_state=state)
        except StateMismatchError:
            self.note("3. a callback with another state is refused (StateMismatchError); ours passes")
        else:
            raise DemoCheckFailed("a forged state was accepted")
        received = parse_callback(callback, expected_state=state)
        check(received == code, "parse_callback returned another code")
        with sync.CodeSession(fake.app_id, fake.app_key, fake.app_secret_key, received, redirect_uri,
                              **self.session_options()) as session:
            self.sent()
            self.got("token", token_summary(session.token))
            me = sync.API(session).users.getCurrentUser()
            self.sent()
            self.got("users.getCurrentUser", me)
            check(me.get("uid") == fake.user_id, "users.getCurrentUser returned another user")
            self.note(f"circuit: {session.core.circuit}-server")

    def implicit_grant(self) -> None:
        from okru_httpx import sync

        fake = self.fake
        with sync.ImplicitSession(fake.app_id, fake.app_key, None, fake.user_login, fake.user_password,
                                  ["VALUABLE_ACCESS", "PHOTO_CONTENT"], state="demo-state",
                                  **self.session_options()) as session:
            self.sent()
            self.got("token (from the redirect's #fragment)", token_summary(session.token))
            check(session.state == "demo-state", "the state did not come back")
            me = sync.API(session).users.getCurrentUser(fields="name,gender")
            self.sent()
            self.got("users.getCurrentUser", me)
            check(session.core.circuit == "client", "not the client-server circuit")

    def password_grant(self) -> None:
        from okru_httpx import sync

        fake = self.fake
        with sync.PasswordSession(fake.app_id, fake.app_key, None, fake.user_login, fake.user_password,
                                  **self.session_options()) as session:
            self.sent()
            self.got("session", token_summary(session.token))
            uid = sync.API(session).users.getLoggedInUser()
            self.sent()
            self.got("users.getLoggedInUser", uid)
            check(uid == fake.user_id, "users.getLoggedInUser returned another uid")

    def refresh_grant(self) -> None:
        from okru_httpx import sync

        fake = self.fake
        issued = self.issued()
        self.note(f"stored refresh token: {mask(issued['refresh_token'])}")
        with sync.RefreshSession(fake.app_id, fake.app_key, fake.app_secret_key, issued["refresh_token"],
                                 **self.session_options()) as session:
            self.sent()
            self.got("token", token_summary(session.token))
            check(session.access_token != issued["access_token"], "no new access token")
            me = sync.API(session).users.getCurrentUser()
            self.sent()
            self.got("users.getCurrentUser", me)

    def client_circuit(self) -> None:
        from okru_httpx import sync

        fake = self.fake
        issued = self.issued()
        with sync.ClientSession(fake.app_id, fake.app_key, issued["access_token"], issued["session_secret_key"],
                                **self.session_options()) as session:
            friends = sync.API(session).friends.get()
            self.sent()
            self.got("friends.get", friends)
            check(isinstance(friends, list) and len(friends) == 3, "expected the demo user's 3 friends")

    def server_circuit(self) -> None:
        from okru_httpx import sync

        fake = self.fake
        issued = self.issued()
        with sync.ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, issued["access_token"],
                                **self.session_options()) as session:
            groups = sync.API(session).group.getInfo(uids=[fake.group_id, fake.small_group_id], fields="name")
            self.sent()
            self.got("group.getInfo", groups)
            check(isinstance(groups, list) and len(groups) == 2, "expected two groups")

    def app_circuit(self) -> None:
        from okru_httpx import sync

        fake = self.fake
        with sync.AppSession(fake.app_id, fake.app_key, fake.app_secret_key, **self.session_options()) as session:
            ok = sync.API(session).notifications.sendSimple(uid=fake.user_id, text="Привет от okru demo!")
            self.sent()
            self.got("notifications.sendSimple", ok)
            check(ok is True and fake.notifications[-1] == (fake.user_id, "Привет от okru demo!"),
                  "the notification did not arrive")
            self.note("no access_token was sent: this method must be called without a session")

    def params(self) -> None:
        from okru_httpx import sync

        fake = self.fake
        issued = self.issued()
        friend = "571000000003"
        with sync.ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, issued["access_token"],
                                **self.session_options()) as session:
            api = sync.API(session)
            users = api.users.getInfo(uids=[fake.user_id, friend], fields=["name", "gender"], emptyPictures=False)
            self.sent()
            self.got("users.getInfo", users)
            sent = fake.calls("users.getInfo")[-1].params
            check(sent.get("uids") == f"{fake.user_id},{friend}" and sent.get("emptyPictures") == "false",
                  "the list/bool parameters were not sent as OK expects")
            attachment = {"media": [{"type": "text", "text": "Привет, мир! Ёлки & палки = 100%"}]}
            topic = api.mediatopic.post(type="USER", attachment=attachment)
            self.sent()
            self.got("mediatopic.post (topic id)", topic)
            check(fake.topics[-1].attachment == attachment, "the emulator got another attachment")
            offset = api.friends.get(offset=0)
            self.sent()
            self.got("friends.get offset=0 (a 0 is sent, not dropped)", offset)
            check(fake.calls("friends.get")[-1].params.get("offset") == "0", "offset=0 was not sent")

    def api_error(self) -> None:
        from okru_httpx import sync

        fake = self.fake
        issued = self.issued()
        with sync.ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, issued["access_token"],
                                **self.session_options()) as session:
            try:
                sync.API(session).users.noSuchMethod()
            except MethodNotFoundError as exc:
                self.sent()
                self.got("raised", f"{type(exc).__name__}: code={exc.code} symbol={exc.symbol} — {exc.action}")
            else:
                raise DemoCheckFailed("an unknown method did not raise")
        with sync.ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, issued["access_token"],
                                pass_error=True, **self.session_options()) as session:
            raw = sync.API(session).users.noSuchMethod()
            self.sent()
            self.got("with pass_error=True, returned", raw)
            check(isinstance(raw, dict) and raw.get("error_code") == 3, "pass_error did not return the error")

    def expiry_refresh(self) -> None:
        from okru_httpx import sync

        fake = self.fake
        issued = self.issued()
        tokens: list[Token] = []
        with sync.ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, issued["access_token"],
                                refresh_token=issued["refresh_token"], on_token=tokens.append,
                                **self.session_options()) as session:
            api = sync.API(session)
            api.users.getLoggedInUser()
            self.sent()
            fake.advance(31 * 60)
            self.note("the emulator's clock jumps 31 minutes: the 30-minute token has expired")
            uid = api.users.getLoggedInUser()
            self.sent()
            self.got("users.getLoggedInUser (after a transparent refresh)", uid)
            check(len(tokens) == 1 and session.access_token != issued["access_token"], "no refresh happened")
            self.note(f"on_token got the new token: {token_summary(tokens[0])}")

    def adapters(self) -> None:
        import trio

        import okru_httpx
        import okru_trio
        from okru_httpx import sync

        fake = self.fake
        issued = self.issued()
        args = (fake.app_id, fake.app_key, fake.app_secret_key, issued["access_token"])
        with sync.ServerSession(*args, **self.session_options()) as session:
            me = sync.API(session).users.getCurrentUser()
        self.sent()
        self.got("okru_httpx.sync", me.get("name"))

        async def with_httpx_async() -> Any:
            async with okru_httpx.ServerSession(*args, **self.session_options()) as session:
                return await okru_httpx.API(session).users.getCurrentUser()

        me_async = asyncio.run(with_httpx_async())
        self.sent()
        self.got("okru_httpx (asyncio)", me_async.get("name"))

        async def with_trio() -> Any:
            async with okru_trio.ServerSession(*args, **self.session_options()) as session:
                return await okru_trio.API(session).users.getCurrentUser()

        me_trio = trio.run(with_trio)
        self.sent()
        self.got("okru_trio (h11 over trio)", me_trio.get("name"))
        check(me == me_async == me_trio, "the adapters disagree")

    def upload(self) -> None:
        from okru_httpx import sync

        fake = self.fake
        issued = self.issued(("VALUABLE_ACCESS", "PHOTO_CONTENT"))
        with sync.ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, issued["access_token"],
                                **self.session_options()) as session:
            photos = session.upload_photos(Photo(_GIF, "okru-demo.gif"))
            self._scrub += [p.token for p in photos]
            self.sent()
            for photo in photos:
                self.got("uploaded", f"photo_id={photo.photo_id[:12]}… status={photo.status} "
                         f"assigned_photo_id={photo.assigned_photo_id} token=***")
            check(len(photos) == 1 and photos[0].status == "SUCCESS", "the photo was not committed")
            topic = sync.API(session).mediatopic.post(
                type="USER", attachment={"media": [{"type": "text", "text": "Фото из okru demo"},
                                                   photo_media(photos)]})
            self.sent()
            self.got("mediatopic.post with the photo (topic id)", topic)

    def paging(self) -> None:
        from okru_httpx import sync

        fake = self.fake
        issued = self.issued()
        with sync.ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, issued["access_token"],
                                **self.session_options()) as session:
            total = 0
            for number, page in enumerate(session.pages("group.getMembers", {"uid": fake.group_id}, count=10), 1):
                total += len(page.items)
                self.sent()
                self.got(f"page {number}", f"{len(page.items)} members, has_more={page.has_more}")
            check(total == len(fake.groups[fake.group_id].members), "members missing from the pages")
            photos = list(session.items("photos.getPhotos", count=5))
            self.sent()
            self.got("photos.getPhotos, 5 per page", f"{len(photos)} photos in all")
            check(len(photos) >= 12, "photos missing from the pages")

    # -- running ----------------------------------------------------------------------------
    def run(self) -> int:
        total = len(self.steps)
        failed: list[str] = []
        started = time.perf_counter()
        for number, (title, step) in enumerate(self.steps, 1):
            self.say(f"[{number}/{total}] {title}")
            self._seen = len(self.fake.requests)
            t0 = time.perf_counter()
            try:
                step()
            except BrokenPipeError:
                raise  # our stdout is gone (`okru demo | head`): not a failed step; stop quietly
            except Exception as exc:
                self.sent()
                if isinstance(exc, DemoCheckFailed):
                    line = f"unexpected result: {exc}"
                else:
                    line = describe_error(exc, debug_hint=False)[1].removeprefix("okru: error: ")
                self.say(f"  ✘ failed: {one_line(line)}")
                failed.append(f"{number}")
            else:
                self.say(f"  ✔ ok ({(time.perf_counter() - t0) * 1000:.0f} ms)")
            self.say()
        elapsed = time.perf_counter() - started
        if failed:
            self.say(f"✘ {len(failed)} of {total} steps failed (step {', '.join(failed)}) in {elapsed:.1f} s")
            return EXIT_DEMO
        self.say(f"✔ all {total} steps passed in {elapsed:.1f} s")
        return EXIT_OK


def run_demo(*, verbose: bool = False, faults: list[str] | None = None, out: TextIO | None = None) -> int:
    """Start the emulator on an ephemeral loopback port and run every step; the exit code."""
    from okru_trio.testing import run_fake_server

    fake = FakeOK()
    for spec in faults or []:
        method, sep, fault = spec.rpartition("=")
        if not sep or not method or not fault:
            raise CLIError(f"bad --fault {spec!r}", "use METHOD=FAULT, e.g. users.getInfo=service")
        try:
            fake.inject(fault, method=method, times=None)
        except UsageError as exc:
            raise CLIError(f"bad --fault {spec!r}: {exc}", "see docs/emulator.md for the faults") from exc
    with run_fake_server(fake) as url:
        demo = Demo(fake, url, verbose=verbose, out=out)
        demo.say(f"okru demo: the OK.ru emulator runs on {url} (demo app {fake.app_id}, user "
                 f"{fake.user_login!r}); every request below is what the emulator received, secrets masked.")
        if faults:
            demo.say(f"faults injected: {', '.join(faults)}")
        demo.say()
        return demo.run()
