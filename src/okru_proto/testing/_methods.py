"""REST methods of the emulator, with the result shapes of PROTOCOL.md §4, §7 and §9."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

from .._types import Response
from .._upload import PHOTO_IDS_PLACEHOLDER
from ._fake import LONG_TOKEN_TTL, UPLOAD_TTL, ApiFail, permission_denied
from ._http import Incoming, api_error, json_response, parse_multipart
from ._model import AccessToken, App, Topic, UploadedPhoto, UploadTicket, User, normalize_scope

if TYPE_CHECKING:
    from ._fake import FakeOK

__all__ = ["METHODS", "CallContext", "MethodSpec", "auth_login", "upload_image"]

Session = Literal["required", "optional", "prohibited"]


@dataclass
class CallContext:
    fake: FakeOK
    incoming: Incoming
    app: App
    token: AccessToken | None
    user: User | None

    @property
    def params(self) -> dict[str, str]:
        return self.incoming.params

    def require(self, name: str) -> str:
        value = self.params.get(name)
        if value is None or value == "":
            raise ApiFail(100, f"Missed required parameter: {name}")
        return value

    def require_scope(self, scope: str) -> None:
        if self.token is not None and scope not in self.token.scopes:
            raise permission_denied(scope)

    def target_user(self, param: str = "uid") -> User:
        """The session's user, or the ``uid`` parameter of a session-less call."""
        if self.user is not None:
            return self.user
        uid = self.params.get(param)
        if not uid:
            # Real reply, error_data included (AIO-OLD docs, PROTOCOL.md §4).
            raise ApiFail(100, f"Either session_key or {param} must be specified", 1)
        user = self.fake.users.get(uid)
        if user is None:
            raise ApiFail(110, f"Invalid user id {uid}")
        return user

    def int_param(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiFail(100, f"Invalid parameter {name} value : {raw}") from None
        if not low <= value <= high:
            raise ApiFail(100, f"Invalid parameter {name} value : {raw}, must be within [{low}, {high}]")
        return value


@dataclass(frozen=True)
class MethodSpec:
    func: Callable[[CallContext], object]
    session: Session = "required"
    scopes: tuple[str, ...] = ()


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


# -- users ---------------------------------------------------------------------------------------

USER_FIELDS = (
    "uid", "first_name", "last_name", "name", "gender", "birthday", "age", "locale", "location",
    "pic_1", "pic_2", "pic_3", "pic_4", "has_email", "email", "online",
)
DEFAULT_USER_FIELDS = tuple(f for f in USER_FIELDS if f not in ("email", "online"))


def user_object(fake: FakeOK, user: User, fields: Iterable[str], *, email_ok: bool) -> dict[str, object]:
    year = time.gmtime(fake.now).tm_year
    birth_year, birth_month, birth_day = (int(x) for x in user.birthday.split("-"))
    today = time.gmtime(fake.now)
    age = year - birth_year - ((today.tm_mon, today.tm_mday) < (birth_month, birth_day))
    full: dict[str, object] = {
        "uid": user.uid,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "name": f"{user.first_name} {user.last_name}",
        "gender": user.gender,
        "birthday": user.birthday,
        "age": age,
        "locale": user.locale,
        "location": {"city": user.city, "country": "RUSSIAN_FEDERATION", "countryCode": "RU"},
        "pic_1": f"https://i.mycdn.me/i?r=demo&uid={user.uid}&size=50",
        "pic_2": f"https://i.mycdn.me/i?r=demo&uid={user.uid}&size=128",
        "pic_3": f"https://i.mycdn.me/i?r=demo&uid={user.uid}&size=190",
        "pic_4": f"https://i.mycdn.me/i?r=demo&uid={user.uid}&size=640",
        "has_email": user.email is not None,
        "online": "web",
    }
    if user.email is not None and email_ok:
        # The email field needs GET_EMAIL (PROTOCOL.md §6).
        full["email"] = user.email
    out: dict[str, object] = {"uid": user.uid}
    for name in fields:
        if name in full:
            out[name] = full[name]
    return out


def _fields(ctx: CallContext, *, required: bool) -> list[str]:
    raw = ctx.require("fields") if required else ctx.params.get("fields", "")
    # OK takes field names in either case (docs write them upper-case: FIRST_NAME).
    return [f.lower() for f in _csv(raw)]


def _email_ok(ctx: CallContext) -> bool:
    return ctx.token is not None and "GET_EMAIL" in ctx.token.scopes


def users_get_current_user(ctx: CallContext) -> object:
    assert ctx.user is not None
    fields = _fields(ctx, required=False) or list(DEFAULT_USER_FIELDS)
    return user_object(ctx.fake, ctx.user, fields, email_ok=_email_ok(ctx))


def users_get_logged_in_user(ctx: CallContext) -> object:
    assert ctx.user is not None
    return ctx.user.uid  # a JSON string (PROTOCOL.md §4)


def users_get_info(ctx: CallContext) -> object:
    uids = _csv(ctx.require("uids"))
    fields = _fields(ctx, required=True)
    if len(uids) > 100:  # DOC-REPO: at most 100 uids (§7.3)
        raise ApiFail(100, f"Invalid parameter uids value : too many ids ({len(uids)}), max 100")
    users = [ctx.fake.users[uid] for uid in uids if uid in ctx.fake.users]
    return [user_object(ctx.fake, u, fields, email_ok=False) for u in users]


def users_get_calls_left(ctx: CallContext) -> object:
    methods = _csv(ctx.require("methods"))
    return [{"available": True, "callsLeft": 1000, "name": m} for m in methods]


# -- friends, groups -----------------------------------------------------------------------------

def friends_get(ctx: CallContext) -> object:
    user = ctx.target_user()
    fid = ctx.params.get("fid")
    if fid:
        other = ctx.fake.users.get(fid)
        if other is None:
            raise ApiFail(110, f"Invalid user id {fid}")
        user = other
    return list(user.friends)  # uids as strings (YANDEX capture)


GROUP_FIELDS = ("uid", "name", "description", "shortname", "members_count", "premium", "private", "pic_avatar")


def group_object(gid: str, fields: list[str], fake: FakeOK) -> dict[str, object]:
    group = fake.groups[gid]
    full: dict[str, object] = {
        "uid": group.gid,
        "name": group.name,
        "description": group.description,
        "shortname": f"group{group.gid}",
        "members_count": len(group.members),
        "premium": False,
        "private": False,
        "pic_avatar": f"https://i.mycdn.me/i?r=demo&gid={group.gid}",
    }
    out: dict[str, object] = {"uid": group.gid}
    for name in fields:
        if name in full:
            out[name] = full[name]
    return out


def group_get_info(ctx: CallContext) -> object:
    uids = _csv(ctx.require("uids"))
    fields = _fields(ctx, required=True)
    if len(uids) > 100:
        raise ApiFail(100, f"Invalid parameter uids value : too many ids ({len(uids)}), max 100")
    return [group_object(gid, fields, ctx.fake) for gid in uids if gid in ctx.fake.groups]


def _page(ctx: CallContext, key: str, total: int, *, default: int = 10) -> tuple[int, int, bool, str | None]:
    """(start, end, has_more, new_anchor) for anchor/direction/count paging (PROTOCOL.md §7.3)."""
    count = ctx.int_param("count", default, 1, 100)
    direction = ctx.params.get("direction", "FORWARD").upper() or "FORWARD"
    raw_anchor = ctx.params.get("anchor")
    index: int | None = None
    if raw_anchor:
        index = ctx.fake.parse_anchor(key, raw_anchor)
        if index is None:
            raise ApiFail(100, f"Invalid parameter anchor value : {raw_anchor}")
    if direction == "FORWARD":
        start = 0 if index is None else index + 1
        end = min(total, start + count)
        has_more = end < total
        anchor_index = end - 1 if end > start else index
    elif direction == "BACKWARD":
        end = total if index is None else index
        start = max(0, end - count)
        has_more = start > 0
        anchor_index = start if end > start else index
    elif direction == "AROUND":
        center = 0 if index is None else index
        start = max(0, center - count // 2)
        end = min(total, start + count)
        has_more = start > 0 or end < total
        anchor_index = center
    else:
        raise ApiFail(100, f"Invalid parameter direction value : {direction}")
    anchor = ctx.fake.anchor(key, anchor_index) if anchor_index is not None else raw_anchor
    return start, end, has_more, anchor


def group_get_members(ctx: CallContext) -> object:
    gid = ctx.require("uid")
    group = ctx.fake.groups.get(gid)
    if group is None:
        raise ApiFail(160, f"Invalid group id {gid}")
    start, end, has_more, anchor = _page(ctx, f"members:{gid}", len(group.members))
    members = [
        {"userId": uid, "status": "ADMIN" if i == 0 else "ACTIVE"}
        for i, uid in enumerate(group.members[start:end], start)
    ]
    result: dict[str, object] = {"members": members, "has_more": has_more}
    if anchor is not None:
        result["anchor"] = anchor
    return result


# -- photos --------------------------------------------------------------------------------------

def _photo_list(ctx: CallContext, user: User) -> list[UploadedPhoto]:
    return sorted(
        (p for p in ctx.fake.photos.values() if p.uid == user.uid and p.committed),
        key=lambda p: int(p.assigned_photo_id or "0"),
    )


def photos_get_photos(ctx: CallContext) -> object:
    """Legacy paging shape: camelCase ``hasMore`` and ``anchor`` (YANDEX 2014, PROTOCOL.md §7.3)."""
    user = ctx.target_user()
    photos = _photo_list(ctx, user)
    start, end, has_more, anchor = _page(ctx, f"photos:{user.uid}", len(photos), default=10)
    items = [
        {
            "id": p.assigned_photo_id,
            "pic640x480": f"https://i.mycdn.me/i?r=demo&photo={p.assigned_photo_id}&size=640",
            "text": "",
        }
        for p in photos[start:end]
    ]
    result: dict[str, object] = {"hasMore": has_more, "photos": items}
    if anchor is not None:
        result["anchor"] = anchor
    return result


def _photo_id(fake: FakeOK) -> str:
    # Real ids are base64 with "+" "/" "=" (PROTOCOL.md §7.2): clients must URL-encode them.
    return base64.b64encode(fake.rng.randbytes(40)).decode("ascii")


def photos_get_upload_url(ctx: CallContext) -> object:
    user = ctx.target_user()
    count = ctx.int_param("count", 1, 1, 100)
    gid = ctx.params.get("gid") or None
    if gid is not None and gid not in ctx.fake.groups:
        raise ApiFail(160, f"Invalid group id {gid}")
    ids = [_photo_id(ctx.fake) for _ in range(count)]
    api_token = ctx.fake.random_string(40, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    ticket = UploadTicket(
        api_token, ctx.app.app_id, user.uid, ids, ctx.fake.now + UPLOAD_TTL, ctx.params.get("aid"), gid
    )
    ctx.fake.uploads[api_token] = ticket
    # The base comes from the incoming request, so the URL works in-process and over loopback.
    # placeholders=true: the client puts the ids each POST carries in place of ${photoIds}
    # (DOC-PHOTO, PROTOCOL.md §7.2); a URL sent with the placeholder left in gets error 121.
    placeholders = ctx.params.get("placeholders", "").lower() in ("true", "1")
    photo_ids = PHOTO_IDS_PLACEHOLDER if placeholders else quote(",".join(ids), safe="")
    url = f"{ctx.incoming.base_url}/uploadImage?apiToken={quote(api_token, safe='')}&photoIds={photo_ids}"
    return {
        "expires_ms": int(ticket.expires_at * 1000),
        "photo_ids": ids,
        "ttl_ms": UPLOAD_TTL * 1000,
        "upload_url": url,
    }


def upload_image(fake: FakeOK, incoming: Incoming) -> Response:
    """The upload host: multipart POST, parts ``pic1``, ``pic2``... (PROTOCOL.md §7.2).

    No OK signature: the ``apiToken`` in the URL authorizes it. It always answers JSON.
    """
    query = dict(incoming.query)
    ticket = fake.uploads.get(query.get("apiToken", ""))
    if ticket is None or ticket.expires_at <= fake.now:
        return api_error(100, "Invalid parameter apiToken")
    wanted = _csv(query.get("photoIds", "")) or ticket.photo_ids
    if any(pid not in ticket.photo_ids for pid in wanted):
        return api_error(121, "Invalid photo id")
    if incoming.request.method != "POST":
        return api_error(21, "Not a multipart request")
    parts = parse_multipart(incoming.request.header("content-type") or "", incoming.request.body)
    if parts is None:
        return api_error(21, "Not a multipart request")
    files = [p for p in parts if p.data and (p.filename is not None or p.name.startswith("pic"))]
    if not files:
        return api_error(505, "No image in request")
    if len(files) > len(wanted):
        return api_error(100, f"Too many files: {len(files)}, photo ids: {len(wanted)}")
    result: dict[str, dict[str, str]] = {}
    for pid, part in zip(wanted, files):
        token = base64.b64encode(fake.rng.randbytes(48)).decode("ascii")
        fake.photos[pid] = UploadedPhoto(pid, token, ticket.uid, part.data, part.filename)
        result[pid] = {"token": token}
    return json_response({"photos": result})


def photos_v2_commit(ctx: CallContext) -> object:
    entries: list[dict[str, object]]
    if "photos" in ctx.params:
        try:
            decoded = json.loads(ctx.params["photos"])
        except ValueError:
            raise ApiFail(100, "Invalid parameter photos value : not JSON") from None
        if not isinstance(decoded, list) or not all(isinstance(e, dict) for e in decoded):
            raise ApiFail(100, "Invalid parameter photos value : expected a list of objects")
        entries = decoded
    else:
        entries = [{"photo_id": ctx.require("photo_id"), "token": ctx.require("token")}]
    user = ctx.target_user()
    out = []
    for entry in entries:
        pid, token = str(entry.get("photo_id", "")), str(entry.get("token", ""))
        photo = ctx.fake.photos.get(pid)
        if photo is None or photo.token != token or photo.uid != user.uid:
            out.append({"photo_id": pid, "status": "FAILED"})
            continue
        if not photo.committed:
            photo.committed = True
            photo.assigned_photo_id = ctx.fake.next_id(547_000_000_000)
        out.append({"photo_id": pid, "status": "SUCCESS", "assigned_photo_id": photo.assigned_photo_id or ""})
    return {"photos": out}


# -- mediatopic ------------------------------------------------------------------------------------

TOPIC_TYPES = ("USER", "USER_STATUS", "USER_NOTE", "GROUP_THEME", "GROUP_THEME_PROMO", "GROUP_SUGGESTED")


def _bad_attachment(reason: str) -> ApiFail:
    return ApiFail(100, f"Invalid parameter attachment value : {reason}")


def _check_media(ctx: CallContext, block: object) -> None:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise _bad_attachment("each media item must be an object with a type")
    kind = block["type"]
    if kind == "text":
        if not isinstance(block.get("text"), str):
            raise _bad_attachment("text block without text")
        if len(block["text"]) > 10_000:
            raise ApiFail(601, "Text is too long")
    elif kind == "link":
        url = block.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ApiFail(607, "Bad link format")
    elif kind == "photo":
        items = block.get("list")
        if not isinstance(items, list) or not items:
            raise _bad_attachment("photo block without list")
        tokens = {p.token: p for p in ctx.fake.photos.values()}
        assigned = {p.assigned_photo_id for p in ctx.fake.photos.values() if p.committed}
        for item in items:
            if not isinstance(item, dict):
                raise _bad_attachment("photo list items must be objects")
            # "id" is the upload token; "photoId" an existing photo (PROTOCOL.md §7.2 step 4).
            if "id" in item and item["id"] in tokens:
                continue
            if "photoId" in item and item["photoId"] in assigned:
                continue
            raise ApiFail(121, "Invalid photo id")
    elif kind == "poll":
        answers = block.get("answers")
        if not isinstance(block.get("question"), str) or not isinstance(answers, list) or not answers:
            raise _bad_attachment("poll needs question and answers")
        if not all(isinstance(a, dict) and isinstance(a.get("text"), str) for a in answers):
            raise _bad_attachment("poll answers need text")
    elif kind not in ("app", "movie", "music", "place", "link_preview"):
        raise _bad_attachment(f"unknown media type {kind}")


def mediatopic_post(ctx: CallContext) -> object:
    raw = ctx.require("attachment")
    try:
        attachment = json.loads(raw)
    except ValueError:
        raise _bad_attachment("not valid JSON") from None
    if not isinstance(attachment, dict):
        raise _bad_attachment("must be a JSON object")
    media = attachment.get("media")
    if not isinstance(media, list) or not media:
        raise _bad_attachment("media list is missing or empty")
    if len(media) > 100:
        raise ApiFail(600, "Too many media blocks")
    for block in media:
        _check_media(ctx, block)
    topic_type = ctx.params.get("type", "USER").upper() or "USER"
    if topic_type not in TOPIC_TYPES:
        raise ApiFail(100, f"Invalid parameter type value : {topic_type}")
    gid: str | None = None
    if topic_type.startswith("GROUP"):
        gid = ctx.require("gid")
        ctx.require_scope("GROUP_CONTENT")  # posting to a group (PROTOCOL.md §9)
        if gid not in ctx.fake.groups:
            raise ApiFail(160, f"Invalid group id {gid}")
    user = ctx.target_user()
    topic_id = ctx.fake.next_id(63_000_000_000_000)
    ctx.fake.topics.append(Topic(topic_id, user.uid, gid, topic_type, attachment))
    return topic_id  # a JSON string ("63784035699550", YANDEX)


# -- auth, events, notifications ------------------------------------------------------------------

def auth_touch_session(ctx: CallContext) -> object:
    assert ctx.token is not None
    if ctx.token.long:
        ctx.token.expires_at = ctx.fake.now + LONG_TOKEN_TTL  # "30 days from the call" (§3.5)
    # The reply shape is NOT FOUND in PROTOCOL.md; the emulator answers {"result": true}.
    return {"result": True}


def events_get(ctx: CallContext) -> object:
    assert ctx.user is not None
    types = _csv(ctx.params.get("types", "")) or [
        "MESSAGES", "DISCUSSIONS", "NOTIFICATIONS", "GUESTS", "MARKS", "ACTIVITIES",
    ]
    return [{"uid": ctx.user.uid, "type": t.upper(), "number": 0} for t in types]


def notifications_send_simple(ctx: CallContext) -> object:
    uid = ctx.require("uid")
    text = ctx.require("text")
    if uid not in ctx.fake.users:
        raise ApiFail(110, f"Invalid user id {uid}")
    ctx.fake.notifications.append((uid, text))
    return True  # shape NOT FOUND in PROTOCOL.md; documented as a bare true


def auth_login(fake: FakeOK, incoming: Incoming) -> object:
    """The unofficial password grant (PROTOCOL.md §3.3): unsigned, returns a session."""
    params = incoming.params
    app_key = params.get("application_key")
    if not app_key:
        raise ApiFail(101, "No application key")
    app = fake.app_by_key(app_key)
    if app is None:
        raise ApiFail(101, "Application not exist")
    login = params.get("user_name", "")
    password = params.get("password", "")
    if not login:
        raise ApiFail(100, "Missed required parameter: user_name")
    user = fake.user_by_login(login)
    if user is None or user.password != password:
        raise ApiFail(401, "Invalid login or password")
    if user.captcha:
        raise ApiFail(402, "Captcha required")
    if user.human_check:
        raise ApiFail(403, "Human check required")
    scopes = frozenset(normalize_scope(s) for s in app.permissions) - {"LONG_ACCESS_TOKEN"}
    token = fake.new_access_token(app, user.uid, scopes, with_session_secret=True)
    assert token.session_secret_key is not None
    return {
        "uid": user.uid,
        "session_key": token.token,
        "session_secret_key": token.session_secret_key,
        "api_server": incoming.base_url + "/",
        "auth_sig": fake.auth_sig(user.uid, token.token, app),
        "activated_profile": True,
    }


METHODS: dict[str, MethodSpec] = {
    "users.getCurrentUser": MethodSpec(users_get_current_user, "required"),
    "users.getLoggedInUser": MethodSpec(users_get_logged_in_user, "required"),
    "users.getInfo": MethodSpec(users_get_info, "optional", ("VALUABLE_ACCESS",)),
    "users.getCallsLeft": MethodSpec(users_get_calls_left, "optional"),
    "friends.get": MethodSpec(friends_get, "optional", ("VALUABLE_ACCESS",)),
    "group.getInfo": MethodSpec(group_get_info, "optional", ("VALUABLE_ACCESS",)),
    "group.getMembers": MethodSpec(group_get_members, "optional", ("VALUABLE_ACCESS",)),
    "photos.getPhotos": MethodSpec(photos_get_photos, "optional", ("VALUABLE_ACCESS",)),
    "photosV2.getUploadUrl": MethodSpec(photos_get_upload_url, "optional", ("PHOTO_CONTENT",)),
    "photosV2.commit": MethodSpec(photos_v2_commit, "optional", ("PHOTO_CONTENT",)),
    "mediatopic.post": MethodSpec(mediatopic_post, "optional", ("VALUABLE_ACCESS",)),
    "auth.touchSession": MethodSpec(auth_touch_session, "required"),
    "events.get": MethodSpec(events_get, "required"),
    "notifications.sendSimple": MethodSpec(notifications_send_simple, "prohibited"),
}
