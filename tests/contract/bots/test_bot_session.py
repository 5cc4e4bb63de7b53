"""The Bot API contract, once, over every adapter's ``BotSession`` against the emulator."""

from __future__ import annotations

import pytest

from okru_asgi import webhook_app
from okru_proto import Endpoints, RetryPolicy, UsageError
from okru_proto.bots import Attachment, Button
from okru_proto.errors import BotTokenError, ChatNotFoundError, ParamError
from okru_proto.testing import FakeOK
from tests.adapters import Adapter

pytestmark = pytest.mark.anyio

MEMBER = "user:571000000002"


async def test_info_send_and_read_back(adapter: Adapter, fake: FakeOK) -> None:
    bot = adapter.bot(fake)
    try:
        info = await adapter.run(bot.info)
        assert (info.name, info.group_id) == ("Demo group", "group:53000000000001")
        sent = await adapter.run(bot.send, fake.bots.chat_id, "Привет")
        assert sent.message_id is not None and sent.message_id.startswith("mid:")
        assert [m["message"]["text"] for m in fake.bots.sent(fake.bots.chat_id)] == ["Привет"]
        fake.bots.user_writes(fake.bots.chat_id, MEMBER, "и тебе")
        messages = await adapter.run(bot.messages, fake.bots.chat_id)
        assert [m.text for m in messages] == ["и тебе", "Привет"]  # newest first
        assert messages[0].sender_id == MEMBER
    finally:
        await adapter.close(bot)


async def test_chats_iterate_every_page(adapter: Adapter, fake: FakeOK) -> None:
    for n in range(6):
        fake.bots.add_chat(f"chat {n}", [MEMBER])
    bot = adapter.bot(fake)
    try:
        chats = await adapter.collect(bot.chats(count=4))
        assert len(chats) == 7 and len({c.chat_id for c in chats}) == 7
        assert len([r for r in fake.requests if r.path == "/graph/me/chats"]) == 2
        one = await adapter.run(bot.chat, chats[0].chat_id)
        assert one == chats[0]
        url = await adapter.run(bot.chat_url, fake.bots.chat_id)
        assert url.startswith("https://ok.ru/messages/g")
    finally:
        await adapter.close(bot)


async def test_keyboard_press_and_answer(adapter: Adapter, fake: FakeOK) -> None:
    bot = adapter.bot(fake)
    chat = fake.bots.chat_id
    try:
        await adapter.run(bot.send, chat, "Да или нет?",
                          keyboard=[[Button.callback("Да", "yes"), Button.callback("Нет", "no")]])
        keys = fake.bots.sent(chat)[0]["message"]["attachment"]
        assert keys["type"] == "INLINE_KEYBOARD" and len(keys["payload"]["keyboard"]["buttons"][0]) == 2
        callback = fake.bots.press(chat, MEMBER, "yes")
        await adapter.run(bot.answer, chat, callback, "Принято")
        assert fake.bots.answers == [{"chat_id": chat, "user_id": MEMBER, "message": {"text": "Принято"}}]
        with pytest.raises(ParamError):  # answered already: OK no longer knows the callback
            await adapter.run(bot.answer, chat, callback, "again")
    finally:
        await adapter.close(bot)


async def test_upload_and_send_files(adapter: Adapter, fake: FakeOK) -> None:
    bot = adapter.bot(fake)
    chat = fake.bots.chat_id
    try:
        image = await adapter.run(bot.upload, b"\x89PNG\r\n", "IMAGE", content_type="image/png")
        assert image.type == "IMAGE" and image.token
        doc = await adapter.run(bot.send_file, chat, b"%PDF-1.4", "FILE", text="doc", settle=0)
        assert doc.message_id
        await adapter.run(bot.send, chat, "pic", attachments=[image])
        sent = fake.bots.sent(chat)
        assert sent[0]["message"]["attachment"]["type"] == "FILE"
        assert sent[1]["message"]["attachment"] == {"type": "IMAGE", "payload": {"token": image.token}}
        with pytest.raises(ParamError):  # a token OK never issued
            await adapter.run(bot.send, chat, attachments=[Attachment.file("forged")])
    finally:
        await adapter.close(bot)


async def test_edit_direct_and_subscriptions(adapter: Adapter, fake: FakeOK) -> None:
    bot = adapter.bot(fake)
    chat = fake.bots.chat_id
    try:
        sent = await adapter.run(bot.send, chat, "typo")
        await adapter.run(bot.edit, sent.message_id, "fixed")
        assert fake.bots.sent(chat)[0]["message"]["text"] == "fixed"
        direct = await adapter.run(bot.send_to_users, [MEMBER, "user:571000000003"], "hi")
        assert [(d.success, d.chat_id is not None) for d in direct] == [(True, True), (False, False)]
        assert await adapter.run(bot.subscribe, "https://bot.example/hook") is True
        subs = await adapter.run(bot.subscriptions)
        assert [s.url for s in subs] == ["https://bot.example/hook"]
        assert await adapter.run(bot.unsubscribe, "https://bot.example/hook") is True
        assert await adapter.run(bot.subscriptions) == ()
    finally:
        await adapter.close(bot)


async def test_errors_are_typed(adapter: Adapter, fake: FakeOK) -> None:
    bot = adapter.bot(fake)
    try:
        with pytest.raises(ChatNotFoundError):
            await adapter.run(bot.chat, "chat:Cnothere")
        with pytest.raises(ParamError):
            await adapter.run(bot.send, fake.bots.chat_id,
                              attachments=[Attachment.image(url=f"https://x/{n}.png") for n in range(2)])
        fake.bots.token_expired = True
        with pytest.raises(BotTokenError) as caught:
            await adapter.run(bot.info)
        assert fake.bots.access_token not in str(caught.value)
        with pytest.raises(UsageError):
            await adapter.run(bot.send, fake.bots.chat_id, "x", attachments=[Attachment.file("t")] * 6)
    finally:
        await adapter.close(bot)


async def test_options_and_repr(adapter: Adapter, fake: FakeOK) -> None:
    with pytest.raises(UsageError, match="BotSession"):
        adapter.bot(fake, colour="red")
    with pytest.raises(UsageError, match="pass_error"):
        adapter.bot(fake, pass_error=True)
    with pytest.raises(UsageError, match="app_key"):
        adapter.bot(fake, app_key="CBADEMOAPPKEYBABA")
    bot = adapter.bot(fake)
    try:
        assert fake.bots.access_token not in repr(bot)
    finally:
        await adapter.close(bot)


async def test_retry_policy_and_transport_options(adapter: Adapter, fake: FakeOK) -> None:
    fake.inject("flood", method="/graph/me/info", times=1)
    bot = adapter.bot(fake, retry=RetryPolicy(attempts=1, base=0, cap=0))
    try:
        assert (await adapter.run(bot.info)).name == "Demo group"
        assert len(fake.calls("/graph/me/info")) == 2  # the flood, then the retry
    finally:
        await adapter.close(bot)


def test_webhook_app_options_are_checked() -> None:
    async def handler(event: object) -> None:
        return None

    for bad in ({"allowed_networks": ["not a network"]}, {"trusted_proxies": ["300.1.1.1"]},
                {"dedup_window": -1}, {"max_body": 0}):
        with pytest.raises(UsageError):
            webhook_app(handler, **bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        webhook_app("not callable")  # type: ignore[arg-type]


async def test_history_walks_back_through_every_message(adapter: Adapter, fake: FakeOK) -> None:
    chat = fake.bots.chat_id
    for n in range(7):
        fake.clock.advance(1 if n % 3 else 0)  # some messages share a millisecond
        fake.bots.user_writes(chat, MEMBER, f"m{n}")
    bot = adapter.bot(fake)
    try:
        messages = await adapter.collect(bot.history(chat, count=3))
        assert [m.text for m in messages] == [f"m{n}" for n in reversed(range(7))]
        assert len(fake.calls(f"/graph/me/messages/{chat}")) >= 3
    finally:
        await adapter.close(bot)


def test_token_stays_out_of_httpx_logs(fake: FakeOK, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    import httpx

    from okru_httpx.sync import BotSession
    from okru_httpx.testing import FakeOKTransport

    with caplog.at_level(logging.DEBUG), BotSession(fake.bots.access_token, endpoints=Endpoints(),
                                                     client=httpx.Client(transport=FakeOKTransport(fake))) as bot:
        bot.send(fake.bots.chat_id, "x")
        with pytest.raises(BotTokenError):
            fake.bots.token_expired = True
            bot.info()
    assert "HTTP Request" in caplog.text and "access_token=***" in caplog.text
    assert "graph POST send -> HTTP 200" in caplog.text
    assert fake.bots.access_token not in caplog.text
