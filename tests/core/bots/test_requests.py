"""Every Bot API method's exact request, and how replies and errors are read (core, no I/O)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from okru_proto import APIError, Endpoints, Error, HTTPStatusError, ProtocolError, RetryPolicy, UsageError
from okru_proto.adapter import BotCore, Request, Response, Sleep
from okru_proto.bots import Attachment, Button, build_message, keyboard
from okru_proto.errors import BotTokenError, ChatNotFoundError, FloodBlockedError

TOKEN = "tkn18YdUJZe:CQABPOJKAKEKEKEKE"  # the token of OK's examples
CHAT = "chat:C3ecb9d02a600"
JSON_TYPE = "application/json;charset=utf-8"


def core(**options: Any) -> BotCore:
    return BotCore(TOKEN, **options)


def ok(value: object, status: int = 200) -> Response:
    return Response(status, (("content-type", JSON_TYPE),), json.dumps(value).encode())


def first(flow: Any) -> Request:
    request = next(flow)
    assert isinstance(request, Request)
    return request


def finish(flow: Any, *replies: Response) -> Any:
    """Drive ``flow`` with ``replies`` in order; its result."""
    effect = next(flow)
    try:
        for reply in replies:
            assert isinstance(effect, Request), effect
            effect = flow.send(reply)
    except StopIteration as done:
        return done.value
    raise AssertionError(f"the flow wanted more: {effect!r}")


def split(request: Request) -> tuple[str, list[tuple[str, str]]]:
    parts = urlsplit(request.url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qsl(parts.query)


@pytest.mark.parametrize(("flow", "method", "url", "query"), [
    (lambda c: c.info_flow(), "GET", "https://api.ok.ru/graph/me/info", []),
    (lambda c: c.chats_page_flow(), "GET", "https://api.ok.ru/graph/me/chats", []),
    (lambda c: c.chats_page_flow("LTE0OTcy", 1), "GET", "https://api.ok.ru/graph/me/chats",
     [("marker", "LTE0OTcy"), ("count", "1")]),
    (lambda c: c.chat_flow(CHAT), "GET", f"https://api.ok.ru/graph/me/chat/{CHAT}", []),
    (lambda c: c.chat_url_flow("chat:C4017fdcea600"), "GET", "https://api.ok.ru/graph/chat:C4017fdcea600/url", []),
    (lambda c: c.messages_flow(CHAT, count=2, from_ms=1498581292941, to_ms=1498577000197), "GET",
     f"https://api.ok.ru/graph/me/messages/{CHAT}", [("count", "2"), ("from", "1498581292941"), ("to", "1498577000197")]),
    (lambda c: c.upload_target_flow("FILE"), "GET", "https://api.ok.ru/graph/me/fileUploadUrl", [("type", "FILE")]),
    (lambda c: c.subscriptions_flow(), "GET", "https://api.ok.ru/graph/me/subscriptions", []),
])
def test_get_requests(flow: Any, method: str, url: str, query: list[tuple[str, str]]) -> None:
    request = first(flow(core()))
    assert request.method == method
    assert split(request) == (url, [*query, ("access_token", TOKEN)])
    assert request.body == b""


@pytest.mark.parametrize(("flow", "url", "query", "body"), [
    # The documented text message, byte for byte the example's JSON.
    (lambda c: c.send_flow(CHAT, "Привет"), f"https://api.ok.ru/graph/{CHAT}/messages", [],
     {"recipient": {"chat_id": CHAT}, "message": {"text": "Привет"}}),
    (lambda c: c.send_flow(CHAT, attachments=[Attachment.image(url="https://st.mycdn.me/res/i/ok_logo.png")]),
     f"https://api.ok.ru/graph/{CHAT}/messages", [],
     {"recipient": {"chat_id": CHAT},
      "message": {"attachment": {"type": "IMAGE", "payload": {"url": "https://st.mycdn.me/res/i/ok_logo.png"}}}}),
    (lambda c: c.send_flow(CHAT, attachments=[Attachment.file("tokenString")]),
     f"https://api.ok.ru/graph/{CHAT}/messages", [],
     {"recipient": {"chat_id": CHAT}, "message": {"attachment": {"type": "FILE", "payload": {"token": "tokenString"}}}}),
    (lambda c: c.send_to_users_flow(["user:123456789012", "210987654321"], "Hello"),
     "https://api.ok.ru/graph/me/messages", [],
     {"recipient": {"user_ids": ["user:123456789012", "210987654321"]}, "message": {"text": "Hello"}}),
    (lambda c: c.answer_flow(CHAT, "someCallbackId", "ok"), f"https://api.ok.ru/graph/{CHAT}/answer",
     [("callbackId", "someCallbackId")], {"message": {"text": "ok"}}),
    (lambda c: c.edit_flow("mid:C3ecb9d02a600.15cea67d78d2059", "new"),
     "https://api.ok.ru/graph/mid:C3ecb9d02a600.15cea67d78d2059/edit", [], {"message": {"text": "new"}}),
    (lambda c: c.subscribe_flow("http://sample.com/webhook.php"), "https://api.ok.ru/graph/me/subscribe", [],
     {"url": "http://sample.com/webhook.php"}),
    (lambda c: c.unsubscribe_flow("http://sample.com/webhook.php"), "https://api.ok.ru/graph/me/unsubscribe", [],
     {"url": "http://sample.com/webhook.php"}),
])
def test_post_requests(flow: Any, url: str, query: list[tuple[str, str]], body: dict[str, Any]) -> None:
    request = first(flow(core()))
    assert request.method == "POST"
    # The token rides in the query on POST too, as in every OK example.
    assert split(request) == (url, [*query, ("access_token", TOKEN)])
    assert request.header("content-type") == JSON_TYPE
    assert json.loads(request.body.decode("utf-8")) == body
    assert "Привет".encode() in request.body or "Привет" not in json.dumps(body, ensure_ascii=False)


def test_the_api_endpoint_is_where_the_graph_api_lives() -> None:
    request = first(core(endpoints=Endpoints(api="http://127.0.0.1:8080")).info_flow())
    assert request.url.startswith("http://127.0.0.1:8080/graph/me/info?")


def test_token_never_in_reprs() -> None:
    bot = core()
    request = first(bot.send_flow(CHAT, "x"))
    assert TOKEN not in repr(request) and TOKEN not in repr(bot)
    assert "access_token=***" in repr(request)


def test_keyboard_and_reply_to() -> None:
    keys = keyboard([[Button.callback("Да", "yes", intent="POSITIVE")], [Button.link("Сайт", "https://example.com")]])
    message = build_message("Выберите", [keys], reply_to="mid:1")
    assert message == {
        "text": "Выберите", "reply_to": "mid:1",
        "attachment": {"type": "INLINE_KEYBOARD", "payload": {"keyboard": {"buttons": [
            [{"type": "CALLBACK", "text": "Да", "intent": "POSITIVE", "payload": "yes"}],
            [{"type": "LINK", "text": "Сайт", "intent": "DEFAULT", "url": "https://example.com"}]]}}},
    }
    two = build_message(None, [Attachment.file("a"), Attachment.video("b")])
    assert [a["type"] for a in two["attachments"]] == ["FILE", "VIDEO"] and "attachment" not in two


def test_builders_pass_unknown_fields_through() -> None:
    att = Attachment("STICKER", {"id": "s1"}, {"future": 1})
    assert build_message(None, [att], extra={"privacyWarning": "SCREENSHOT"}) == {
        "privacyWarning": "SCREENSHOT", "attachment": {"future": 1, "type": "STICKER", "payload": {"id": "s1"}}}
    assert Button.callback("x", "p", color="red").to_json()["color"] == "red"


@pytest.mark.parametrize("bad", [
    lambda: build_message(),
    lambda: build_message("x", [Attachment.file(str(n)) for n in range(6)]),
    lambda: build_message(5),  # type: ignore[arg-type]
    lambda: Attachment.image(),
    lambda: Button.callback("x", "p", intent="LOUD"),
    lambda: keyboard([]),
    lambda: core().chats_page_flow(count=101).send(None),
    lambda: core().upload_target_flow("PHOTO").send(None),
    lambda: core().chat_flow("../me/info").send(None),
    lambda: core().subscribe_flow("ftp://x").send(None),
    lambda: core().upload_flow(b"x", "IMAGE").send(None),
    lambda: BotCore(""),
])
def test_usage_errors(bad: Any) -> None:
    with pytest.raises(UsageError):
        bad()


def test_errors_are_typed_whatever_the_status() -> None:
    error = {"error_code": 705, "error_msg": "CHAT_NOT_FOUND : no", "error_data": None}
    for status in (200, 400, 404):
        with pytest.raises(ChatNotFoundError):
            finish(core().chat_flow(CHAT), ok(error, status))
    for code in (102, 103, 401):
        with pytest.raises(BotTokenError) as caught:
            finish(core().info_flow(), ok({"error_code": code, "error_msg": f"bad {TOKEN}"}))
        assert caught.value.needs_relogin and TOKEN not in str(caught.value)
    with pytest.raises(APIError) as other:
        finish(core().info_flow(), ok({"error_code": 2001, "error_msg": "GRAPH_PARAM_REQUEST : x"}))
    assert other.value.code == 2001 and other.value.method == "me/info"


def test_broken_replies() -> None:
    with pytest.raises(HTTPStatusError):
        finish(core().info_flow(), Response(502, (), b"<html><title>Bad Gateway</title></html>"))
    with pytest.raises(HTTPStatusError):
        finish(core().info_flow(), ok({"name": "x"}, 500))
    with pytest.raises(ProtocolError):
        finish(core().info_flow(), Response(200, (), b"{not json"))
    with pytest.raises(ProtocolError):
        finish(core().info_flow(), ok([1, 2]))
    with pytest.raises(ProtocolError):
        finish(core().subscribe_flow("https://x/h"), ok({"success": False}))


def test_results_keep_raw_and_accept_unpublished_shapes() -> None:
    sent = finish(core().send_flow(CHAT, "x"), ok({"message_id": "mid:1", "new": True}))
    assert sent.message_id == "mid:1" and sent.raw == {"message_id": "mid:1", "new": True}
    # OK does not publish a send's reply: any non-error JSON (even empty) is a success.
    assert finish(core().send_flow(CHAT, "x"), Response(200, (), b"")).message_id is None
    assert finish(core().send_flow(CHAT, "x"), ok({"success": True})).raw == {"success": True}


def test_chats_marker_and_lenient_fields() -> None:
    page = finish(core().chats_page_flow(), ok({"chats": [{"chat_id": 5, "title": None, "participants": {"u": "x"}}],
                                                "marker": ""}))
    assert page.marker is None  # an empty marker is no marker: the last page
    assert page.chats[0].chat_id == "5" and page.chats[0].title is None and page.chats[0].participants == {}


def test_retry_policy_covers_graph_calls() -> None:
    flow = core(retry=RetryPolicy(attempts=2, random=lambda: 0.0)).info_flow()
    assert isinstance(next(flow), Request)
    assert flow.send(ok({"error_code": 8, "error_msg": "FLOOD_BLOCKED : x"})) == Sleep(0.25)
    assert isinstance(flow.send(None), Request)
    with pytest.raises(StopIteration) as done:
        flow.send(ok({"name": "G", "group_id": "group:1"}))
    assert done.value.value.name == "G"
    with pytest.raises(FloodBlockedError):
        finish(core().info_flow(), ok({"error_code": 8}))


def test_upload_file_three_steps_with_settle_delay() -> None:
    flow = core().send_file_flow(CHAT, b"%PDF-1.4", "FILE", text="doc")
    step1 = next(flow)
    assert split(step1) == ("https://api.ok.ru/graph/me/fileUploadUrl", [("type", "FILE"), ("access_token", TOKEN)])
    url = "https://fu.mycdn.me/api/upload.do?sig=lS8ThopDldI&expires=1531849335513&clientType=3&id=22125556&userId=123"
    step2 = flow.send(ok({"url": url, "token": "tokenString"}))
    assert (step2.method, step2.url, step2.body) == ("POST", url, b"%PDF-1.4")
    assert step2.header("content-type") == "application/octet-stream"
    assert flow.send(ok({})) == Sleep(1.0)  # OK: send "с небольшой задержкой" after the upload
    step3 = flow.send(None)
    assert json.loads(step3.body) == {"recipient": {"chat_id": CHAT}, "message": {
        "text": "doc", "attachment": {"type": "FILE", "payload": {"token": "tokenString"}}}}


def test_upload_image_token_comes_from_the_upload_reply() -> None:
    flow = core().upload_flow(b"\x89PNG", "IMAGE", "image/png", encoding="raw")
    next(flow)
    step2 = flow.send(ok({"url": "https://fu.mycdn.me/api/upload.do?sig=s&id=1", "file_id": "1519bf4"}))
    assert step2.header("content-type") == "image/png"
    with pytest.raises(StopIteration) as done:
        flow.send(ok({"photos": {"1519bf4": {"token": "imgToken"}}}))
    assert done.value.value == Attachment("IMAGE", {"token": "imgToken"})
    bad = core().upload_flow(b"x", "IMAGE", "image/png", encoding="raw")
    next(bad)
    bad.send(ok({"url": "https://fu/x", "file_id": "1"}))
    with pytest.raises(ProtocolError):
        bad.send(ok({"photos": {}}))


def test_upload_target_repr_hides_the_signature() -> None:
    target = finish(core().upload_target_flow("VIDEO"),
                    ok({"url": "https://fu.mycdn.me/api/upload.do?sig=SECRETSIG&id=1", "token": "t"}))
    assert "SECRETSIG" not in repr(target) and "sig=***" in repr(target)


def test_every_failure_is_an_okru_error() -> None:
    for body in (b"", b"null", b"[]", b'"x"', b"{}"):
        try:
            finish(core().chat_url_flow(CHAT), Response(200, (), body))
        except Error:
            pass


def test_core_import_loads_no_event_loop() -> None:
    code = ("import sys, okru_proto; from okru_proto.bots import parse_webhook, DedupWindow; "
            "from okru_proto.adapter import BotCore; "
            "bad = {'asyncio', 'trio', 'anyio', 'httpx', 'socket'} & set(sys.modules); print(sorted(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
