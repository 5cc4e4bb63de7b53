"""The steps of ``okru demo``: every grant, circuit, parameter kind, error, refresh, adapter,
upload and paging, each against the emulator through ``okru_httpx`` (and ``okru_trio``).

Each step is a method of :class:`Steps` that prints through :class:`~okru._demo.show.Show` and
raises :class:`~okru._demo.show.DemoCheckFailed` when a result is not what the emulator answers.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from okru_proto import Photo, Token, authorize_url, parse_callback, photo_media
from okru_proto.errors import MethodNotFoundError, StateMismatchError

from .._output import mask
from .show import DemoCheckFailed, Show, check, token_summary

__all__ = ["Steps"]

# A 1x1 GIF: the smallest real image for the upload step.
_GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
        b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


class Steps(Show):
    """The demo's steps, in :meth:`plan`'s order; each is independent of the others."""

    def plan(self) -> list[tuple[str, Callable[[], None]]]:
        """The steps in order: (title, step)."""
        return [
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
