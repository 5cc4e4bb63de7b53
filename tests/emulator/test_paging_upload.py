"""Paging (anchor/has_more and the legacy hasMore shape), the photo upload flow, mediatopic.post."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okru_proto.adapter import Request, Response
from okru_proto.testing import FakeOK
from tests.emulator.helpers import body, call, error_code


def _members(fake: FakeOK, token: dict[str, str], **params: str) -> Any:
    result = body(call(fake, "group.getMembers", {"uid": fake.group_id, **params}, token=token))
    assert isinstance(result, dict)
    return result


def test_get_members_pages_forward(fake: FakeOK, token: dict[str, str]) -> None:
    seen: list[str] = []
    anchor: str | None = None
    pages = 0
    while True:
        params = {"count": "10"} | ({"anchor": anchor} if anchor else {})
        page = _members(fake, token, **params)
        seen += [m["userId"] for m in page["members"]]
        pages += 1
        anchor = page["anchor"]
        if not page["has_more"]:
            break
    assert pages == 3
    assert seen == fake.groups[fake.group_id].members and len(seen) == 25


def test_get_members_backward_and_bad_params(fake: FakeOK, token: dict[str, str]) -> None:
    first = _members(fake, token, count="10")
    second = _members(fake, token, count="10", anchor=str(first["anchor"]))
    back = _members(fake, token, count="10", anchor=str(second["anchor"]), direction="BACKWARD")
    assert back["members"] == [
        m for m in first["members"] + second["members"][:-1]
    ][-10:]
    assert error_code(call(fake, "group.getMembers", {"uid": fake.group_id, "anchor": "garbage"}, token=token)) == 100
    assert error_code(call(fake, "group.getMembers", {"uid": fake.group_id, "count": "0"}, token=token)) == 100
    assert error_code(call(fake, "group.getMembers", {"uid": fake.group_id, "direction": "SIDEWAYS"},
                           token=token)) == 100
    assert error_code(call(fake, "group.getMembers", {"uid": "1"}, token=token)) == 160
    assert error_code(call(fake, "group.getMembers", {}, token=token)) == 100


def test_legacy_photos_paging(fake: FakeOK, token: dict[str, str]) -> None:
    page = body(call(fake, "photos.getPhotos", {"count": "5"}, token=token))
    assert set(page) == {"hasMore", "anchor", "photos"} and page["hasMore"] is True
    ids = [p["id"] for p in page["photos"]]
    while page["hasMore"]:
        page = body(call(fake, "photos.getPhotos", {"count": "5", "anchor": page["anchor"]}, token=token))
        ids += [p["id"] for p in page["photos"]]
    assert len(ids) == len(set(ids)) == 12


def _multipart(files: dict[str, bytes]) -> tuple[str, bytes]:
    boundary = uuid.UUID(int=7).hex
    chunks = []
    for name, data in files.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n".encode() + data + b"\r\n"
        )
    return f"multipart/form-data; boundary={boundary}", b"".join(chunks) + f"--{boundary}--\r\n".encode()


def _upload(fake: FakeOK, url: str, files: dict[str, bytes]) -> Response:
    ctype, data = _multipart(files)
    return fake.handle(Request("POST", url, (("content-type", ctype),), data))


def test_upload_flow_and_post(fake: FakeOK, token: dict[str, str]) -> None:
    got = body(call(fake, "photosV2.getUploadUrl", {"count": "2"}, token=token, base="http://127.0.0.1:8123"))
    assert set(got) == {"upload_url", "photo_ids", "expires_ms", "ttl_ms"}
    assert got["upload_url"].startswith("http://127.0.0.1:8123/uploadImage?apiToken=")
    query = dict(parse_qsl(urlsplit(got["upload_url"]).query))
    assert query["photoIds"].split(",") == got["photo_ids"]
    uploaded = body(_upload(fake, got["upload_url"], {"pic1": b"\xff\xd8jpeg1", "pic2": b"\xff\xd8jpeg2"}))
    assert set(uploaded["photos"]) == set(got["photo_ids"])
    first = got["photo_ids"][0]
    tok = uploaded["photos"][first]["token"]
    committed = body(call(fake, "photosV2.commit", {"photo_id": first, "token": tok}, token=token))
    (entry,) = committed["photos"]
    assert entry["status"] == "SUCCESS" and entry["photo_id"] == first and entry["assigned_photo_id"].isdigit()
    batch = [{"photo_id": first, "token": "bad"}, {"photo_id": got["photo_ids"][1],
                                                   "token": uploaded["photos"][got["photo_ids"][1]]["token"]}]
    statuses = body(call(fake, "photosV2.commit", {"photos": json.dumps(batch)}, token=token))["photos"]
    assert [s["status"] for s in statuses] == ["FAILED", "SUCCESS"]
    attachment = {"media": [{"type": "text", "text": "hello"}, {"type": "photo", "list": [{"id": tok}]}]}
    topic = body(call(fake, "mediatopic.post", {"attachment": json.dumps(attachment)}, token=token))
    assert isinstance(topic, str) and topic.isdigit()
    assert fake.topics[-1].attachment == attachment


def test_upload_url_with_placeholders(fake: FakeOK, token: dict[str, str]) -> None:
    # DOC-PHOTO: with placeholders=true the URL has ${photoIds}, filled per POST with a subset.
    got = body(call(fake, "photosV2.getUploadUrl", {"count": "2", "placeholders": "true"}, token=token))
    assert got["upload_url"].endswith("&photoIds=${photoIds}")
    first, second = got["photo_ids"]
    assert error_code(_upload(fake, got["upload_url"], {"pic1": b"\xff\xd8x"})) == 121  # left unfilled
    for pid, data in ((second, b"\xff\xd8two"), (first, b"\xff\xd8one")):
        url = got["upload_url"].replace("${photoIds}", quote(pid, safe=""))
        assert set(body(_upload(fake, url, {"pic1": data}))["photos"]) == {pid}
    assert (fake.photos[first].data, fake.photos[second].data) == (b"\xff\xd8one", b"\xff\xd8two")
    plain = body(call(fake, "photosV2.getUploadUrl", {"placeholders": "false"}, token=token))
    assert "${" not in plain["upload_url"]


def test_upload_errors(fake: FakeOK, token: dict[str, str]) -> None:
    url = body(call(fake, "photosV2.getUploadUrl", token=token))["upload_url"]
    not_multipart = fake.handle(Request("POST", url, (("content-type", "image/jpeg"),), b"\xff\xd8"))
    assert error_code(not_multipart) == 21
    assert body(not_multipart)["error_msg"].startswith("NOT_MULTIPART : ")
    bad_token = url.replace("apiToken=", "apiToken=x")
    assert error_code(_upload(fake, bad_token, {"pic1": b"x"})) == 100
    assert error_code(_upload(fake, url, {"pic1": b""})) == 505
    assert error_code(_upload(fake, url, {"pic1": b"a", "pic2": b"b"})) == 100
    fake.clock.advance(86401)
    assert error_code(_upload(fake, url, {"pic1": b"x"})) == 100


@pytest.mark.parametrize(
    ("attachment", "code"),
    [
        ("not json", 100),
        ("[]", 100),
        ('{"media": []}', 100),
        ('{"media": [{"type": "text"}]}', 100),
        ('{"media": [{"type": "poll", "question": "q", "answers": []}]}', 100),
        ('{"media": [{"type": "link", "url": "ftp://x"}]}', 607),
        ('{"media": [{"type": "photo", "list": [{"id": "unknown"}]}]}', 121),
        ('{"media": [{"type": "weird"}]}', 100),
    ],
)
def test_mediatopic_validates_attachment(fake: FakeOK, token: dict[str, str], attachment: str, code: int) -> None:
    assert error_code(call(fake, "mediatopic.post", {"attachment": attachment}, token=token)) == code


def test_mediatopic_group_needs_group_content(fake: FakeOK) -> None:
    text = json.dumps({"media": [{"type": "poll", "question": "?", "answers": [{"text": "a"}]}]})
    tok = fake.issue_token()
    response = call(fake, "mediatopic.post", {"attachment": text, "type": "GROUP_THEME", "gid": fake.group_id},
                    token=tok)
    assert body(response)["error_data"] == "group_content"
    tok = fake.issue_token(scope=("VALUABLE_ACCESS", "GROUP_CONTENT"))
    ok = call(fake, "mediatopic.post", {"attachment": text, "type": "GROUP_THEME", "gid": fake.group_id}, token=tok)
    assert error_code(ok) is None and fake.topics[-1].gid == fake.group_id


def test_get_members_around(fake: FakeOK, token: dict[str, str]) -> None:
    first = _members(fake, token, count="10")
    around = _members(fake, token, count="4", anchor=str(first["anchor"]), direction="AROUND")
    members = fake.groups[fake.group_id].members
    assert [m["userId"] for m in around["members"]] == members[7:11]
    assert around["has_more"] is True


@pytest.mark.fuzz
@given(data=st.binary(max_size=300), ctype=st.sampled_from(
    ["multipart/form-data; boundary=b", "multipart/form-data", "multipart/mixed; boundary=\"x\"", "text/plain", ""]))
def test_upload_never_raises(data: bytes, ctype: str) -> None:
    fake = FakeOK()
    tok = fake.issue_token(scope=("PHOTO_CONTENT",))
    url = body(call(fake, "photosV2.getUploadUrl", token=tok))["upload_url"]
    response = fake.handle(Request("POST", url, (("content-type", ctype),) if ctype else (), data))
    assert response.status == 200
    assert error_code(response) in (None, 21, 100, 505)


def test_mediatopic_limits(fake: FakeOK, token: dict[str, str]) -> None:
    too_many = json.dumps({"media": [{"type": "text", "text": "x"}] * 101})
    assert error_code(call(fake, "mediatopic.post", {"attachment": too_many}, token=token)) == 600
    too_long = json.dumps({"media": [{"type": "text", "text": "x" * 10_001}]})
    assert error_code(call(fake, "mediatopic.post", {"attachment": too_long}, token=token)) == 601
    assert error_code(call(fake, "mediatopic.post", {}, token=token)) == 100
