"""Long polling, chat actions, subscriptions, the messages path and the upload encodings as the
core builds them (no I/O): exact requests, and how replies, errors and failures are handled."""

from __future__ import annotations

import email.parser
import email.policy
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from okru_proto import APIError, RetryPolicy, TransportError, UsageError
from okru_proto.adapter import BotCore, Request, Response, Sleep
from okru_proto.bots import (
    ACTIONS,
    CallbackPressed,
    ChatSystemEvent,
    MessageCreated,
    UnknownEvent,
    Updates,
    parse_updates,
    parse_webhook,
)
from okru_proto.bots._flows import PollSettings, UpdatesPoller
from okru_proto.bots._values import Subscription
from okru_proto.errors import BotTokenError, ParamError

TOKEN = "tkn18YdUJZe:CQABPOJKAKEKEKEKE"
CHAT = "chat:C3ecb9d02a600"
JSON_TYPE = "application/json;charset=utf-8"
FIXED = RetryPolicy(attempts=0, base=1.0, cap=30.0, random=lambda: 1.0)  # no jitter: delay = min(cap, 2**n)


def ok(value: object, status: int = 200) -> Response:
    return Response(status, (("content-type", JSON_TYPE),), json.dumps(value).encode())


def split(request: Request) -> tuple[str, dict[str, str]]:
    parts = urlsplit(request.url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", dict(parse_qsl(parts.query))


def message(text: str, mid: str) -> dict[str, Any]:
    return {"webhookType": "MESSAGE_CREATED", "sender": {"user_id": "user:1", "name": "Вася"},
            "recipient": {"chat_id": CHAT}, "message": {"text": text, "mid": mid, "seq": 1}, "timestamp": 5}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def drive(flow: Any, script: list[Any]) -> tuple[Any, list[Any]]:
    """Run ``flow`` answering each effect from ``script`` in order: a Response (or an exception
    to throw) per Request, None per Sleep. Returns (result, effects seen)."""
    seen: list[Any] = []
    effect = next(flow)
    try:
        while True:
            seen.append(effect)
            answer = script.pop(0)
            if isinstance(effect, Sleep):
                assert answer is None, f"a Sleep was answered with {answer!r}"
                effect = flow.send(None)
            elif isinstance(answer, BaseException):
                effect = flow.throw(answer)
            else:
                assert isinstance(effect, Request), effect
                effect = flow.send(answer() if callable(answer) else answer)
    except StopIteration as done:
        assert not script, f"unused answers: {script}"
        return done.value, seen


# -- the updates reply ------------------------------------------------------------------------------

def test_parse_updates_reads_a_public_clients_shape_and_is_tolerant() -> None:
    body = {"updates": [message("a", "mid:1"), json.dumps(message("b", "mid:2")), 7, None, "not json",
                        {"webhookType": "MESSAGE_CALLBACK", "callbackId": "cb", "payload": "yes",
                         "recipient": {"chat_id": CHAT}}],
            "marker": 12345}
    updates = parse_updates(body)
    assert updates.marker == "12345"
    assert [type(e) for e in updates.events] == [MessageCreated, MessageCreated, CallbackPressed]
    assert updates.events[0] == parse_webhook(json.dumps(message("a", "mid:1")))
    assert [e.text for e in updates.events[:2]] == ["a", "b"]  # type: ignore[union-attr]
    assert parse_updates([message("c", "mid:3")]).events[0].text == "c"  # type: ignore[union-attr]
    for odd in (None, "x", 5, {"updates": "x"}, {"marker": ["x"]}, {}):
        assert parse_updates(odd) == Updates((), None)


def test_event_fields_the_review_asked_for() -> None:
    system = parse_webhook(json.dumps({"webhookType": "CHAT_SYSTEM", "type": "CHAT_STARTED", "payload": "ref42",
                                       "sender": {"user_id": "user:9"}, "recipient": {"chat_id": CHAT}}))
    assert isinstance(system, ChatSystemEvent)
    assert (system.type, system.webhook_type, system.payload, system.sender_id) == \
        ("CHAT_STARTED", "CHAT_SYSTEM", "ref42", "user:9")
    assert parse_webhook(b'{"webhookType":"CHAT_SYSTEM"}').type is None
    pressed = parse_webhook(json.dumps({"webhookType": "MESSAGE_CALLBACK", "callbackId": "c", "payload": "p",
                                        "message": {"mid": "mid:K.1"}}))
    assert isinstance(pressed, CallbackPressed) and pressed.message_id == "mid:K.1"
    assert parse_webhook(b'{"webhookType":"MESSAGE_CALLBACK","callbackId":"c","mid":"mid:K.2"}').message_id == \
        "mid:K.2"  # type: ignore[union-attr]
    assert parse_webhook(b'{"webhookType":"MESSAGE_CALLBACK","callbackId":"c"}').message_id is None  # type: ignore[union-attr]
    created = parse_webhook(json.dumps(message("hi", "mid:M.1")))
    assert created.message_id == "mid:M.1" and created.webhook_type == created.type == "MESSAGE_CREATED"  # type: ignore[union-attr]
    unknown = parse_webhook(b'{"webhookType":"NEW_KIND"}')
    assert isinstance(unknown, UnknownEvent) and unknown.type == unknown.webhook_type == "NEW_KIND"


def test_subscriptions_read_long_polling_types_and_filter() -> None:
    sub = Subscription.from_json({"time": 7, "types": ["MESSAGE_CREATED", 5], "longPolling": True, "filter": "бот"})
    assert (sub.url, sub.time, sub.long_polling, sub.types, sub.filter) == \
        (None, 7, True, ("MESSAGE_CREATED",), "бот")
    plain = Subscription.from_json({"time": "8", "url": "https://x/"})
    assert (plain.url, plain.time, plain.long_polling, plain.types, plain.filter) == ("https://x/", 8, False, (), None)


# -- one long poll ----------------------------------------------------------------------------------

def test_a_poll_asks_ok_to_hold_it_and_follows_the_marker() -> None:
    core, poller = BotCore(TOKEN), UpdatesPoller()
    settings = PollSettings(timeout=25)
    batch, seen = drive(poller.poll_flow(core, settings), [ok({"updates": [message("a", "mid:1")], "marker": "M1"})])
    url, query = split(seen[0])
    assert (seen[0].method, url) == ("GET", "https://api.ok.ru/graph/me/updates")
    assert query == {"timeout": "25", "access_token": TOKEN}  # no marker yet
    assert batch.marker == "M1" and [e.text for e in batch.events] == ["a"]
    poller.add(batch)
    _, seen = drive(poller.poll_flow(core, settings), [ok({"updates": []})])
    assert split(seen[0])[1]["marker"] == "M1"
    poller.add(Updates((), None))  # a reply without a marker keeps the last one
    assert poller.marker == "M1"


def test_each_event_is_handed_out_once_in_order() -> None:
    poller = UpdatesPoller()
    a, b = parse_webhook(json.dumps(message("a", "mid:1"))), parse_webhook(json.dumps(message("b", "mid:2")))
    system = parse_webhook(b'{"webhookType":"CHAT_SYSTEM"}')
    poller.add(Updates((a, b, system), "M1"))
    assert poller.take() is a  # a consumer stopping here leaves b for the next loop
    poller.add(Updates((parse_webhook(json.dumps(message("a", "mid:1"))), b, system), "M2"))  # OK sent them again
    assert [poller.take() for _ in range(5)] == [b, system, system, None, None]  # no id: never dropped
    assert poller.marker == "M2"


def test_types_are_filtered_and_validated() -> None:
    core = BotCore(TOKEN)
    body = {"updates": [message("a", "mid:1"), {"webhookType": "CHAT_SYSTEM", "recipient": {"chat_id": CHAT}}]}
    batch, _ = drive(UpdatesPoller().poll_flow(core, PollSettings(types=("CHAT_SYSTEM",))), [ok(body)])
    assert [e.webhook_type for e in batch.events] == ["CHAT_SYSTEM"]
    for bad in (("MESSAGE",), (), "nope"):
        with pytest.raises(UsageError):
            PollSettings(types=bad)  # type: ignore[arg-type]
    for timeout in (0, -1, 301, float("nan"), "20", True):
        with pytest.raises(UsageError):
            PollSettings(timeout=timeout)  # type: ignore[arg-type]


def test_not_subscribed_subscribes_for_long_polling_once() -> None:
    core = BotCore(TOKEN)
    settings = PollSettings(types=("MESSAGE_CREATED", "MESSAGE_CALLBACK"))
    not_subscribed = ok({"error_code": 5000, "error_msg": "INVALID_RESPONSE : not subscribed"})
    batch, seen = drive(UpdatesPoller().poll_flow(core, settings),
                        [not_subscribed, ok({"success": True}), ok({"updates": [message("a", "mid:1")]})])
    assert [split(r)[0].rsplit("/", 1)[1] for r in seen] == ["updates", "subscribe", "updates"]
    assert json.loads(seen[1].body) == {"types": ["MESSAGE_CREATED", "MESSAGE_CALLBACK"], "longPolling": True}
    assert len(batch.events) == 1
    # Still "not subscribed" right after subscribing: an error, not a loop.
    with pytest.raises(APIError) as caught:
        drive(UpdatesPoller().poll_flow(core, settings), [not_subscribed, ok({"success": True}), not_subscribed])
    assert caught.value.code == 5000
    with pytest.raises(APIError):  # subscribe=False: say so instead
        drive(UpdatesPoller().poll_flow(core, PollSettings(subscribe=False)), [not_subscribed])


def test_failures_back_off_capped_and_polling_goes_on() -> None:
    core, poller = BotCore(TOKEN), UpdatesPoller()
    settings = PollSettings(backoff=FIXED)
    script: list[Any] = []
    for _ in range(7):
        script += [TransportError("connection reset"), None]
    script += [ok({"updates": [message("a", "mid:1")]})]
    batch, seen = drive(poller.poll_flow(core, settings), script)
    assert [e.seconds for e in seen if isinstance(e, Sleep)] == [1, 2, 4, 8, 16, 30, 30]
    assert len(batch.events) == 1
    # After a success the backoff starts over; HTML instead of JSON and 5xx count as failures too.
    html = Response(200, (("content-type", "text/html"),), b"<html>technical works</html>")
    _, seen = drive(poller.poll_flow(core, settings), [html, None, ok({}, 502), None, ok({"updates": []})])
    assert [e.seconds for e in seen if isinstance(e, Sleep)] == [1, 2]


def test_errors_that_will_not_pass_are_raised() -> None:
    core = BotCore(TOKEN)
    with pytest.raises(BotTokenError):
        drive(UpdatesPoller().poll_flow(core, PollSettings()), [ok({"error_code": 102, "error_msg": "expired"})])
    with pytest.raises(ParamError):
        drive(UpdatesPoller().poll_flow(core, PollSettings()), [ok({"error_code": 100, "error_msg": "PARAM : x"})])


def test_an_empty_reply_answered_at_once_never_spins() -> None:
    """OK holds a poll up to ``timeout``; a server answering an empty poll at once would make a
    naive loop spin. The poller waits (growing, capped) before the next poll in that case only."""
    core, poller, clock = BotCore(TOKEN), UpdatesPoller(), Clock()
    settings = PollSettings(timeout=20, backoff=FIXED, clock=clock)
    for expected in (1, 2, 4):
        _, seen = drive(poller.poll_flow(core, settings), [ok({"updates": []}), None])
        assert [e.seconds for e in seen if isinstance(e, Sleep)] == [expected]

    def held() -> Response:
        clock.now += 20  # the server held it the whole timeout
        return ok({"updates": []})

    _, seen = drive(poller.poll_flow(core, settings), [held])
    assert not [e for e in seen if isinstance(e, Sleep)]
    _, seen = drive(poller.poll_flow(core, settings), [ok({"updates": []}), None])
    assert [e.seconds for e in seen if isinstance(e, Sleep)] == [1]  # started over after a held poll
    # Events answered at once are not a spin: no wait.
    _, seen = drive(poller.poll_flow(core, settings), [ok({"updates": [message("a", "mid:9")]})])
    assert not [e for e in seen if isinstance(e, Sleep)]


# -- the other requests -----------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "kwargs", "body"), [
    (("https://bot.example/hook",), {}, {"url": "https://bot.example/hook"}),
    (("https://bot.example/hook",), {"types": ["MESSAGE_CREATED"]},
     {"url": "https://bot.example/hook", "types": ["MESSAGE_CREATED"]}),
    ((), {"long_polling": True}, {"types": ["MESSAGE_CREATED", "MESSAGE_CALLBACK", "CHAT_SYSTEM"], "longPolling": True}),
    ((), {"long_polling": True, "types": "CHAT_SYSTEM"}, {"types": ["CHAT_SYSTEM"], "longPolling": True}),
])
def test_subscribe_bodies_are_the_documented_ones(args: tuple[Any, ...], kwargs: dict[str, Any],
                                                   body: dict[str, Any]) -> None:
    flow = BotCore(TOKEN).subscribe_flow(*args, **kwargs)
    request = next(flow)
    assert split(request)[0] == "https://api.ok.ru/graph/me/subscribe"
    assert request.body == json.dumps(body, separators=(",", ":")).encode()
    with pytest.raises(StopIteration) as done:
        flow.send(ok({"success": True}))
    assert done.value.value is True


@pytest.mark.parametrize("kwargs", [{}, {"url": "https://x/", "long_polling": True}, {"url": "ftp://x"},
                                    {"long_polling": True, "types": ["NOPE"]}, {"long_polling": 1},
                                    {"url": "https://x/", "types": []}])
def test_subscribe_refuses_before_any_request(kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        next(BotCore(TOKEN).subscribe_flow(**kwargs))


@pytest.mark.parametrize("action", ACTIONS)
def test_chat_actions(action: str) -> None:
    flow = BotCore(TOKEN).action_flow(CHAT, action)
    request = next(flow)
    assert (request.method, split(request)) == ("POST", (f"https://api.ok.ru/graph/{CHAT}/action", {"access_token": TOKEN}))
    assert json.loads(request.body) == {"action": action}
    assert request.header("content-type") == JSON_TYPE
    with pytest.raises(StopIteration):
        flow.send(ok({"success": True}))


@pytest.mark.parametrize("action", ["typing_on", "TYPING", "", None, "MARK_SEEN "])
def test_an_unknown_action_is_refused_before_any_request(action: Any) -> None:
    with pytest.raises(UsageError, match="TYPING_ON"):
        next(BotCore(TOKEN).action_flow(CHAT, action))


def test_messages_use_the_documented_path() -> None:
    request = next(BotCore(TOKEN).messages_flow(CHAT, count=2, include_deleted=True))
    assert split(request) == (f"https://api.ok.ru/graph/me/messages/{CHAT}",
                              {"count": "2", "include_deleted": "true", "access_token": TOKEN})
    with pytest.raises(UsageError):
        next(BotCore(TOKEN).messages_flow(CHAT, include_deleted="yes"))  # type: ignore[arg-type]


def _upload_request(**kwargs: Any) -> Request:
    flow = BotCore(TOKEN).upload_flow(b"\x89PNG data", kwargs.pop("type", "IMAGE"), kwargs.pop("ctype", "image/png"),
                                      **kwargs)
    next(flow)
    step2 = flow.send(ok({"url": "https://fu.mycdn.me/upload.do?sig=s&id=1", "file_id": "f1", "token": "t"}))
    assert isinstance(step2, Request)
    return step2


def test_image_uploads_as_one_multipart_part_by_default() -> None:
    request = _upload_request(boundary="b0undary")
    ctype = request.header("content-type")
    assert ctype == "multipart/form-data; boundary=b0undary"
    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + request.body)  # type: ignore[operator]
    parts = list(parsed.iter_parts())
    assert len(parts) == 1
    assert parts[0].get_param("name", header="content-disposition") == "file"
    assert parts[0].get_filename() == "file.png"
    assert (parts[0].get_content_type(), parts[0].get_payload(decode=True)) == ("image/png", b"\x89PNG data")


def test_the_encoding_is_selectable() -> None:
    raw = _upload_request(encoding="raw")
    assert (raw.header("content-type"), raw.body) == ("image/png", b"\x89PNG data")
    multipart_file = _upload_request(type="FILE", ctype="application/pdf", encoding="multipart", boundary="x1")
    assert multipart_file.header("content-type") == "multipart/form-data; boundary=x1"
    assert _upload_request(type="FILE", ctype="application/pdf").header("content-type") == "application/pdf"
    for bad in ({"encoding": "base64"}, {"encoding": "multipart"}):  # the second: no boundary
        with pytest.raises(UsageError):
            next(BotCore(TOKEN).upload_flow(b"x", "IMAGE", "image/png", **bad))
