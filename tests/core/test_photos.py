"""The photo upload flow (docs/protocol.md §7.2) on exact requests and canned replies, plus the emulator."""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okru_proto import (
    APIError,
    Error,
    Photo,
    ProtocolError,
    Secret,
    Token,
    UploadedPhoto,
    UploadError,
    UsageError,
    photo_media,
)
from okru_proto._photos import PhotoFile, multipart_body
from okru_proto.adapter import (
    Request,
    Response,
    SessionCore,
    SourceRange,
    StreamedBody,
    build_multipart,
    commit_params,
    fill_photo_ids,
    parse_commit,
    parse_upload_reply,
    parse_upload_url,
    prepare_upload,
    run_sync,
    upload_photos_flow,
)
from okru_proto.testing import FakeOK

JPEG = b"\xff\xd8\xff\xe0rest-of-a-jpeg"
JSON_TYPE = (("content-type", "application/json;charset=utf-8"),)
UPLOAD_URL = "https://up.example.ok/uploadImage?apiToken=tok&photoIds=a%2Cb"


def _json(value: object) -> Response:
    return Response(200, JSON_TYPE, json.dumps(value).encode())


def _core(**options: Any) -> SessionCore:
    return SessionCore(app_id="1", app_key="KEY", app_secret_key="SECRET",
                       token=Token(access_token=Secret("tkn")), clock=lambda: 0.0, **options)


def _parts(content_type: str, body: bytes) -> list[tuple[str | None, str | None, str, bytes]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    assert message.is_multipart()
    out = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        out.append((part.get_param("name", header="content-disposition"), part.get_filename(),
                    part.get_content_type(), payload))
    return out


def _drive(flow: Any, replies: list[Response]) -> tuple[Any, list[Request]]:
    """Run a flow on canned replies (one per request, in order); return (result, requests)."""
    sent: list[Request] = []
    queue: Iterator[Response] = iter(replies)

    def send(request: Request) -> Response:
        sent.append(request)
        return next(queue)

    return run_sync(flow, send, lambda _: None), sent


# -- values and the multipart body --------------------------------------------------------------

def test_photo_value_and_sniffing() -> None:
    assert Photo(JPEG).content_type == "image/jpeg"
    assert Photo(b"\x89PNG\r\n\x1a\n...").content_type == "image/png"
    assert Photo(b"GIF89a...").content_type == "image/gif"
    assert Photo(b"RIFF\x00\x00\x00\x00WEBPVP8 ").content_type == "image/webp"
    assert Photo(b"plain").content_type == "application/octet-stream"
    assert Photo(bytearray(b"xy")).data == b"xy"
    assert Photo.from_path("/some/dir/cat.jpg", JPEG).filename == "cat.jpg"
    assert "rest-of" not in repr(Photo(JPEG))
    for bad in (lambda: Photo(b""), lambda: Photo("text"), lambda: Photo(b"x", content_type="nope"),  # type: ignore[arg-type]
                lambda: Photo(b"x", filename=3), lambda: Photo.coerce(3)):  # type: ignore[arg-type]
        with pytest.raises(UsageError):
            bad()
    with pytest.raises(AttributeError):
        Photo(JPEG).data = b""  # type: ignore[misc]
    uploaded = UploadedPhoto("id1", "secret-token")
    assert "secret-token" not in repr(uploaded)
    assert photo_media([uploaded]) == {"type": "photo", "list": [{"id": "secret-token"}]}
    with pytest.raises(UsageError):
        photo_media([])


def test_multipart_body_exactly() -> None:
    ctype, body = build_multipart([JPEG, Photo(b"abc", "a.bin", "image/png")], "BOUND")
    assert ctype == "multipart/form-data; boundary=BOUND"
    assert body == (
        b'--BOUND\r\nContent-Disposition: form-data; name="pic1"; filename="pic1.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + JPEG + b"\r\n"
        b'--BOUND\r\nContent-Disposition: form-data; name="pic2"; filename="a.bin"\r\n'
        b"Content-Type: image/png\r\n\r\nabc\r\n--BOUND--\r\n")


@pytest.mark.parametrize("boundary", ["", "a" * 71, "has space", "semi;colon", "new\nline"])
def test_bad_boundaries(boundary: str) -> None:
    with pytest.raises(UsageError):
        build_multipart([JPEG], boundary)


def test_boundary_inside_the_data_is_refused() -> None:
    with pytest.raises(UsageError, match="boundary occurs"):
        build_multipart([b"xx--BOUNDyy"], "BOUND")
    with pytest.raises(UsageError):
        build_multipart([], "BOUND")


@given(st.lists(st.tuples(st.binary(min_size=1, max_size=300),
                          st.none() | st.text(min_size=1, max_size=20).filter(lambda t: "\x00" not in t)),
                min_size=1, max_size=4))
def test_multipart_round_trips_through_a_real_parser(files: list[tuple[bytes, str | None]]) -> None:
    boundary = "okru-0123456789abcdef"
    if any(b"--" + boundary.encode() in data for data, _ in files):
        return
    ctype, body = build_multipart([Photo(data, name) for data, name in files], boundary)
    parts = _parts(ctype, body)
    assert [p[0] for p in parts] == [f"pic{i}" for i in range(1, len(files) + 1)]
    assert [p[3] for p in parts] == [data for data, _ in files]


# -- the steps ----------------------------------------------------------------------------------

def test_a_photo_file_is_a_range_of_the_same_multipart_format() -> None:
    # One writer for both kinds: a file's part is its path's range; put the file's bytes in its
    # place and the body is byte for byte what the in-memory photo gives.
    data = JPEG * 3
    ctype, body = multipart_body([Photo(b"GIF89a.."), PhotoFile("/photos/cat.JPG", len(data))], "b" * 32)
    ranges = [p for p in body.parts if isinstance(p, SourceRange)]
    assert [(r.source, r.offset, r.length) for r in ranges] == [("/photos/cat.JPG", 0, len(data))]
    joined = b"".join(data if isinstance(p, SourceRange) else p for p in body.parts)
    assert not body.in_memory and len(body) == len(joined)
    assert (ctype, joined) == build_multipart([Photo(b"GIF89a.."), Photo(data, "cat.JPG")], "b" * 32)
    with pytest.raises(UsageError, match="only an adapter can send it"):
        body.to_bytes()
    request = prepare_upload(UPLOAD_URL, [PhotoFile("/photos/cat.JPG", len(data))], "b" * 32)
    assert isinstance(request.body, StreamedBody)
    # In-memory photos only: a plain bytes body, as before.
    assert type(prepare_upload(UPLOAD_URL, [JPEG], "b" * 32).body) is bytes


def test_photo_file_values() -> None:
    assert PhotoFile("a/b.png", 5).content_type == "image/png"
    assert PhotoFile("a/b.jpeg", 5).filename == "b.jpeg"
    assert PhotoFile("a/b", 5).content_type == "application/octet-stream"
    assert PhotoFile("a/b.png", 5, "x.gif", "image/gif").content_type == "image/gif"
    assert repr(PhotoFile("/secret/dir/b.png", 5)) == "PhotoFile(<5 bytes>, filename='b.png', content_type='image/png')"
    with pytest.raises(UsageError, match=r"photo file 'a/e.jpg' is empty .*505"):
        PhotoFile("a/e.jpg", 0)
    with pytest.raises(UsageError, match="size must be an int"):
        PhotoFile("a/e.jpg", -1)
    with pytest.raises(UsageError, match="a Photo or a PhotoFile"):
        multipart_body(["a.jpg"], "b" * 32)  # type: ignore[list-item]


def test_parse_upload_url() -> None:
    ids, url = parse_upload_url({"photo_ids": ["a", "b"], "upload_url": UPLOAD_URL, "expires_ms": 1}, 2)
    assert ids == ("a", "b") and url == UPLOAD_URL
    # Loopback http is fine (the emulator); plain http to the internet is not.
    assert parse_upload_url({"photo_ids": ["a"], "upload_url": "http://127.0.0.1:1/u?x=1"}, 1)[1]
    bad: list[object] = [
        [], {"photo_ids": ["a"]}, {"photo_ids": "a", "upload_url": UPLOAD_URL},
        {"photo_ids": ["a"], "upload_url": UPLOAD_URL},  # count mismatch
        {"photo_ids": ["a", "a"], "upload_url": UPLOAD_URL},
        {"photo_ids": ["a", "b"], "upload_url": "http://up.odnoklassniki.ru/uploadImage?apiToken=t"},
        {"photo_ids": ["a", "b"], "upload_url": "ftp://x/y"},
        {"photo_ids": ["a", "b"], "upload_url": "https://x/u?photoIds=${unknownPlaceholder}"},
    ]
    for reply in bad:
        with pytest.raises(UploadError) as caught:
            parse_upload_url(reply, 2)
        assert caught.value.step == "getUploadUrl"


def test_placeholder_url_gets_every_photo_id() -> None:
    # placeholders=true (DOC-PHOTO): the ids of the photos a POST carries replace ${photoIds};
    # base64 ids are percent-encoded, the commas between them are not.
    reply = {"photo_ids": ["a+b=", "c/d"], "upload_url": "https://up.example/u?t=1&photoIds=${photoIds}"}
    ids, url = parse_upload_url(reply, 2)
    assert ids == ("a+b=", "c/d")
    assert url == "https://up.example/u?t=1&photoIds=a%2Bb%3D,c%2Fd"
    assert parse_qsl(url.split("?", 1)[1]) == [("t", "1"), ("photoIds", "a+b=,c/d")]
    assert fill_photo_ids("https://up.example/u?photoIds=${photoIds}", "one") == "https://up.example/u?photoIds=one"
    assert fill_photo_ids(UPLOAD_URL, ["a"]) == UPLOAD_URL  # no placeholder: unchanged
    for bad in ([], [""], [1]):
        with pytest.raises(UsageError):
            fill_photo_ids(UPLOAD_URL, bad)  # type: ignore[arg-type]
    with pytest.raises(UploadError, match="fill_photo_ids"):
        prepare_upload("https://up.example/u?photoIds=${photoIds}", [JPEG], "B")  # not filled in


def test_prepare_upload_is_unsigned_multipart() -> None:
    request = prepare_upload(UPLOAD_URL, [JPEG], "B")
    assert request.method == "POST" and request.url == UPLOAD_URL
    assert request.header("content-type") == "multipart/form-data; boundary=B"
    assert b"sig=" not in request.body and "sig=" not in request.url
    assert "apiToken=***" in repr(request)  # the apiToken is a credential


def test_parse_upload_reply() -> None:
    reply = _json({"photos": {"b": {"token": "tb"}, "a": {"token": "ta"}}})
    assert parse_upload_reply(reply, ["a", "b"]) == (UploadedPhoto("a", "ta"), UploadedPhoto("b", "tb"))
    for broken in (_json({"photos": {"a": {"token": "ta"}}}), _json({"photos": {"a": {}, "b": {}}}),
                   _json({"nothing": 1}), _json([1]), _json("x")):
        with pytest.raises(UploadError) as caught:
            parse_upload_reply(broken, ["a", "b"])
        assert caught.value.step == "upload" and caught.value.response is broken
    html = Response(200, (("content-type", "text/html"),), b"<html><title>Oops</title></html>")
    with pytest.raises(UploadError) as caught:
        parse_upload_reply(html, ["a"])
    assert isinstance(caught.value.__cause__, ProtocolError)
    with pytest.raises(UploadError):
        parse_upload_reply(Response(502, (), b"bad gateway"), ["a"])
    error = Response(200, (*JSON_TYPE, ("invocation-error", "503")),
                     b'{"error_code":503,"error_msg":"PHOTO_INVALID_FORMAT : bad","error_data":null}')
    with pytest.raises(APIError) as api:
        parse_upload_reply(error, ["a"])
    assert api.value.code == 503


def test_commit_params_and_parse_commit() -> None:
    one, two = UploadedPhoto("a", "ta"), UploadedPhoto("b", "tb")
    assert commit_params([one]) == {"photo_id": "a", "token": "ta"}
    assert json.loads(str(commit_params([one, two])["photos"])) == [
        {"photo_id": "a", "token": "ta"}, {"photo_id": "b", "token": "tb"}]
    ok = {"photos": [{"photo_id": "b", "status": "SUCCESS", "assigned_photo_id": 2},
                     {"photo_id": "a", "status": "SUCCESS", "assigned_photo_id": "1"}], "aid": "9"}
    assert parse_commit(ok, [one, two]) == (UploadedPhoto("a", "ta", "1", "SUCCESS"),
                                            UploadedPhoto("b", "tb", "2", "SUCCESS"))
    failed = {"photos": [{"photo_id": "a", "status": "SUCCESS", "assigned_photo_id": "1"},
                         {"photo_id": "b", "status": "FAILED"}]}
    with pytest.raises(UploadError) as caught:
        parse_commit(failed, [one, two])
    assert caught.value.step == "commit"
    assert [p.status for p in caught.value.photos] == ["SUCCESS", "FAILED"]
    with pytest.raises(UploadError):
        parse_commit({"photos": [{"photo_id": "a", "status": "SUCCESS"}]}, [one, two])  # b missing
    with pytest.raises(UploadError):
        parse_commit(["SUCCESS"], [one])


# -- the flow on canned replies ----------------------------------------------------------------

def _url_reply(count: int = 1) -> Response:
    return _json({"photo_ids": [f"id{i}" for i in range(count)], "upload_url": UPLOAD_URL})


def _token_reply(count: int = 1) -> Response:
    return _json({"photos": {f"id{i}": {"token": f"t{i}"} for i in range(count)}})


def test_flow_sends_the_three_steps() -> None:
    commit = _json({"photos": [{"photo_id": "id0", "status": "SUCCESS", "assigned_photo_id": "77"},
                               {"photo_id": "id1", "status": "SUCCESS", "assigned_photo_id": "78"}]})
    result, sent = _drive(upload_photos_flow(_core(), [JPEG, b"x"], boundary="B", aid="5"),
                          [_url_reply(2), _token_reply(2), commit])
    assert [p.assigned_photo_id for p in result] == ["77", "78"]
    first = dict(parse_qsl(sent[0].body.decode()))
    assert first["method"] == "photosV2.getUploadUrl" and first["count"] == "2" and first["aid"] == "5"
    assert "sig" in first and "gid" not in first
    assert sent[1].url == UPLOAD_URL and sent[1].header("content-type") == "multipart/form-data; boundary=B"
    last = dict(parse_qsl(sent[2].body.decode()))
    assert last["method"] == "photosV2.commit" and json.loads(last["photos"])[1] == {"photo_id": "id1", "token": "t1"}


def test_group_upload_without_album_skips_commit() -> None:
    result, sent = _drive(upload_photos_flow(_core(), [JPEG], boundary="B", gid=42),
                          [_url_reply(), _token_reply()])
    assert result == (UploadedPhoto("id0", "t0"),) and len(sent) == 2
    assert dict(parse_qsl(sent[0].body.decode()))["gid"] == "42"
    # A group album (gid and aid) is committed, as is anything with commit=True.
    _, sent = _drive(upload_photos_flow(_core(), [JPEG], boundary="B", gid=42, aid=7),
                     [_url_reply(), _token_reply(), _json({"photos": [{"photo_id": "id0", "status": "SUCCESS"}]})])
    assert len(sent) == 3
    _, sent = _drive(upload_photos_flow(_core(), [JPEG], boundary="B", commit=False),
                     [_url_reply(), _token_reply()])
    assert len(sent) == 2


def test_flow_errors_per_step() -> None:
    with pytest.raises(UploadError) as caught:
        _drive(upload_photos_flow(_core(), [JPEG, JPEG], boundary="B"), [_url_reply(1)])
    assert caught.value.step == "getUploadUrl"
    with pytest.raises(UploadError) as caught:
        _drive(upload_photos_flow(_core(), [JPEG], boundary="B"), [_url_reply(), _json({"photos": {}})])
    assert caught.value.step == "upload"
    with pytest.raises(UploadError) as caught:
        _drive(upload_photos_flow(_core(), [JPEG], boundary="B"),
               [_url_reply(), _token_reply(), _json({"photos": [{"photo_id": "id0", "status": "FAILED"}]})])
    assert caught.value.step == "commit" and caught.value.photos[0].status == "FAILED"


def test_flow_raises_ok_errors_even_with_pass_error() -> None:
    error = Response(200, (*JSON_TYPE, ("invocation-error", "10")),
                     b'{"error_code":10,"error_msg":"PERMISSION_DENIED : no","error_data":"photo_content"}')
    with pytest.raises(APIError) as caught:
        _drive(upload_photos_flow(_core(pass_error=True), [JPEG], boundary="B"), [error])
    assert caught.value.code == 10


def test_flow_refuses_bad_input_before_any_request() -> None:
    for photos, boundary in (([], "B"), ([JPEG], "bad boundary"), ([b""], "B")):
        with pytest.raises(UsageError):
            _drive(upload_photos_flow(_core(), photos, boundary=boundary), [])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
tokenish = st.fixed_dictionaries({"token": st.text(max_size=5) | st.integers()})
replies = st.one_of(
    json_values.map(_json),
    st.builds(lambda ids, url: _json({"photo_ids": ids, "upload_url": url}),
              st.lists(st.sampled_from(["id0", "id1", ""]), max_size=3),
              st.sampled_from([UPLOAD_URL, "http://evil.example/u", "http://[::1]:9/u", 5])),
    st.builds(lambda m: _json({"photos": m}),
              st.dictionaries(st.sampled_from(["id0", "id1"]), tokenish | json_values, max_size=2)),
    st.builds(lambda s: _json({"photos": [{"photo_id": "id0", "status": s}, {"photo_id": "id1", "status": s}]}),
              st.sampled_from(["SUCCESS", "FAILED", None])),
    st.builds(Response, st.integers(100, 599), st.just(()), st.binary(max_size=30)),
)


@given(st.lists(replies, min_size=3, max_size=3), st.integers(1, 2))
def test_arbitrary_replies_give_a_result_or_our_error(answers: list[Response], count: int) -> None:
    try:
        result, _ = _drive(upload_photos_flow(_core(), [JPEG] * count, boundary="B"), answers)
    except Error:
        return
    assert len(result) == count and all(isinstance(p, UploadedPhoto) and p.token for p in result)


# -- against the emulator ---------------------------------------------------------------------

def test_against_the_emulator_then_mediatopic() -> None:
    fake = FakeOK()
    issued = fake.issue_token(scope=["VALUABLE_ACCESS", "PHOTO_CONTENT"])
    core = SessionCore(app_id=fake.app_id, app_key=fake.app_key, app_secret_key=fake.app_secret_key,
                       token=Token(access_token=Secret(issued["access_token"])), clock=lambda: fake.now)
    photos = run_sync(upload_photos_flow(core, [JPEG, Photo(b"GIF89a..", "anim.gif")], boundary="x" * 32),
                      fake.handle, lambda _: None)
    assert [fake.photos[p.photo_id].filename for p in photos] == ["pic1.jpg", "anim.gif"]
    assert all(fake.photos[p.photo_id].committed for p in photos)
    topic = run_sync(core.call_flow("mediatopic.post", {"attachment": {"media": [photo_media(photos)]}}),
                     fake.handle, lambda _: None)
    assert fake.topics[-1].topic_id == topic


def test_placeholder_upload_against_the_emulator() -> None:
    fake = FakeOK()
    issued = fake.issue_token(scope=["VALUABLE_ACCESS", "PHOTO_CONTENT"])
    core = SessionCore(app_id=fake.app_id, app_key=fake.app_key, app_secret_key=fake.app_secret_key,
                       token=Token(access_token=Secret(issued["access_token"])), clock=lambda: fake.now)
    photos = run_sync(upload_photos_flow(core, [JPEG, JPEG + b"2"], boundary="x" * 32,
                                         params={"placeholders": True}), fake.handle, lambda _: None)
    (get_url,) = fake.calls("photosV2.getUploadUrl")
    assert get_url.params["placeholders"] == "true"
    assert [fake.photos[p.photo_id].data for p in photos] == [JPEG, JPEG + b"2"]
    assert all(fake.photos[p.photo_id].committed for p in photos)
