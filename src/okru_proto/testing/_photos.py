"""Photos and their upload (docs/protocol.md §7.2): everything that affects an upload ticket or a photo.

The three steps of an upload: ``photosV2.getUploadUrl`` issues a ticket and its URL, the upload
host ``/uploadImage`` (no OK signature: the ``apiToken`` in the URL authorizes it) stores the
pictures and answers their tokens, ``photosV2.commit`` turns tokens into photos; then
``photos.getPhotos`` lists a user's committed photos.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from .._photos import PHOTO_IDS_PLACEHOLDER
from .._values import Response
from ._api_errors import ApiFail
from ._call import CallContext, csv
from ._http import Incoming, api_error, json_response, parse_multipart
from ._model import UploadedPhoto, UploadTicket, User
from ._paging import page, with_anchor
from ._store import UPLOAD_TTL, Store

__all__ = ["photos_get_photos", "photos_get_upload_url", "photos_v2_commit", "upload_image"]


def _photo_list(ctx: CallContext, user: User) -> list[UploadedPhoto]:
    return sorted(
        (p for p in ctx.fake.photos.values() if p.uid == user.uid and p.committed),
        key=lambda p: int(p.assigned_photo_id or "0"),
    )


def photos_get_photos(ctx: CallContext) -> object:
    """Legacy paging shape: camelCase ``hasMore`` and ``anchor`` (YANDEX 2014, docs/protocol.md §7.3)."""
    user = ctx.target_user()
    photos = _photo_list(ctx, user)
    start, end, has_more, anchor = page(ctx, f"photos:{user.uid}", len(photos), default=10)
    items = [
        {
            "id": p.assigned_photo_id,
            "pic640x480": f"https://i.mycdn.me/i?r=demo&photo={p.assigned_photo_id}&size=640",
            "text": "",
        }
        for p in photos[start:end]
    ]
    return with_anchor({"hasMore": has_more, "photos": items}, anchor)


def _photo_id(fake: Store) -> str:
    # Real ids are base64 with "+" "/" "=" (docs/protocol.md §7.2): clients must URL-encode them.
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
    # (DOC-PHOTO, docs/protocol.md §7.2); a URL sent with the placeholder left in gets error 121.
    placeholders = ctx.params.get("placeholders", "").lower() in ("true", "1")
    photo_ids = PHOTO_IDS_PLACEHOLDER if placeholders else quote(",".join(ids), safe="")
    url = f"{ctx.incoming.base_url}/uploadImage?apiToken={quote(api_token, safe='')}&photoIds={photo_ids}"
    return {
        "expires_ms": int(ticket.expires_at * 1000),
        "photo_ids": ids,
        "ttl_ms": UPLOAD_TTL * 1000,
        "upload_url": url,
    }


def upload_image(fake: Store, incoming: Incoming) -> Response:
    """The upload host: multipart POST, parts ``pic1``, ``pic2``... (docs/protocol.md §7.2).

    No OK signature: the ``apiToken`` in the URL authorizes it. It always answers JSON.
    """
    query = dict(incoming.query)
    ticket = fake.uploads.get(query.get("apiToken", ""))
    if ticket is None or ticket.expires_at <= fake.now:
        return api_error(100, "Invalid parameter apiToken")
    wanted = csv(query.get("photoIds", "")) or ticket.photo_ids
    if any(pid not in ticket.photo_ids for pid in wanted):
        return api_error(121, "Invalid photo id")
    if incoming.request.method != "POST":
        return api_error(21, "Not a multipart request")
    body = incoming.request.body
    parts = parse_multipart(incoming.request.header("content-type") or "", body if type(body) is bytes else b"")
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
