"""The REST methods of the emulator and their table: everything a REST method answers lives here.

Result shapes follow docs/protocol.md §4, §7 and §9; :data:`METHODS` maps each method name to its
implementation, session rule and scopes, which the REST gate (``_rest``) enforces before the
call gets here. Photo methods live with the upload host in ``_photos``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

from ._api_errors import ApiFail
from ._call import CallContext, MethodSpec, csv, field_names
from ._model import Topic, User
from ._paging import page, with_anchor
from ._photos import photos_get_photos, photos_get_upload_url, photos_v2_commit
from ._store import Store
from ._video import check_movie, video_get_upload_url, video_update

__all__ = ["METHODS"]


def _select(full: dict[str, object], fields: Iterable[str]) -> dict[str, object]:
    """The fields asked for, in the order asked; ``uid`` always, first."""
    out: dict[str, object] = {"uid": full["uid"]}
    for name in fields:
        if name in full:
            out[name] = full[name]
    return out


# -- users ---------------------------------------------------------------------------------------

USER_FIELDS = (
    "uid", "first_name", "last_name", "name", "gender", "birthday", "age", "locale", "location",
    "pic_1", "pic_2", "pic_3", "pic_4", "has_email", "email", "online",
)
DEFAULT_USER_FIELDS = tuple(f for f in USER_FIELDS if f not in ("email", "online"))


def user_object(fake: Store, user: User, fields: Iterable[str], *, email_ok: bool) -> dict[str, object]:
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
        # The email field needs GET_EMAIL (docs/protocol.md §6).
        full["email"] = user.email
    return _select(full, fields)


def _email_ok(ctx: CallContext) -> bool:
    return ctx.token is not None and "GET_EMAIL" in ctx.token.scopes


def users_get_current_user(ctx: CallContext) -> object:
    assert ctx.user is not None
    fields = field_names(ctx, required=False) or list(DEFAULT_USER_FIELDS)
    return user_object(ctx.fake, ctx.user, fields, email_ok=_email_ok(ctx))


def users_get_logged_in_user(ctx: CallContext) -> object:
    assert ctx.user is not None
    return ctx.user.uid  # a JSON string (docs/protocol.md §4)


def users_get_info(ctx: CallContext) -> object:
    uids = csv(ctx.require("uids"))
    fields = field_names(ctx, required=True)
    if len(uids) > 100:  # DOC-REPO: at most 100 uids (§7.3)
        raise ApiFail(100, f"Invalid parameter uids value : too many ids ({len(uids)}), max 100")
    users = [ctx.fake.users[uid] for uid in uids if uid in ctx.fake.users]
    return [user_object(ctx.fake, u, fields, email_ok=False) for u in users]


def users_get_calls_left(ctx: CallContext) -> object:
    methods = csv(ctx.require("methods"))
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


def group_object(gid: str, fields: list[str], fake: Store) -> dict[str, object]:
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
    return _select(full, fields)


def group_get_info(ctx: CallContext) -> object:
    uids = csv(ctx.require("uids"))
    fields = field_names(ctx, required=True)
    if len(uids) > 100:
        raise ApiFail(100, f"Invalid parameter uids value : too many ids ({len(uids)}), max 100")
    return [group_object(gid, fields, ctx.fake) for gid in uids if gid in ctx.fake.groups]


def group_get_members(ctx: CallContext) -> object:
    gid = ctx.require("uid")
    group = ctx.fake.groups.get(gid)
    if group is None:
        raise ApiFail(160, f"Invalid group id {gid}")
    start, end, has_more, anchor = page(ctx, f"members:{gid}", len(group.members))
    members = [
        {"userId": uid, "status": "ADMIN" if i == 0 else "ACTIVE"}
        for i, uid in enumerate(group.members[start:end], start)
    ]
    return with_anchor({"members": members, "has_more": has_more}, anchor)


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
            # "id" is the upload token; "photoId" an existing photo (docs/protocol.md §7.2 step 4).
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
    elif kind == "movie":
        check_movie(ctx, block)
    elif kind not in ("app", "music", "place", "link_preview"):
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
        ctx.require_scope("GROUP_CONTENT")  # posting to a group (docs/protocol.md §9)
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
        ctx.fake.touch(ctx.token)
    # OK does not document the reply shape (docs/protocol.md §9); the emulator answers {"result": true}.
    return {"result": True}


def events_get(ctx: CallContext) -> object:
    assert ctx.user is not None
    types = csv(ctx.params.get("types", "")) or [
        "MESSAGES", "DISCUSSIONS", "NOTIFICATIONS", "GUESTS", "MARKS", "ACTIVITIES",
    ]
    return [{"uid": ctx.user.uid, "type": t.upper(), "number": 0} for t in types]


def notifications_send_simple(ctx: CallContext) -> object:
    uid = ctx.require("uid")
    text = ctx.require("text")
    if uid not in ctx.fake.users:
        raise ApiFail(110, f"Invalid user id {uid}")
    ctx.fake.notifications.append((uid, text))
    return True  # shape undocumented by OK (docs/protocol.md §9); docs/emulator.md says a bare true


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
    # VIDEO_CONTENT: the permission OK's video upload page names for the whole flow.
    "video.getUploadUrl": MethodSpec(video_get_upload_url, "optional", ("VIDEO_CONTENT",)),
    "video.update": MethodSpec(video_update, "optional", ("VIDEO_CONTENT",)),
    "auth.touchSession": MethodSpec(auth_touch_session, "required"),
    "events.get": MethodSpec(events_get, "required"),
    "notifications.sendSimple": MethodSpec(notifications_send_simple, "prohibited"),
}
