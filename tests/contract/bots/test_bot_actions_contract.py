"""Chat actions, subscriptions, the messages path and the upload encodings, once, on every
adapter against the emulator."""

from __future__ import annotations

import pytest

from okru_proto import UsageError
from okru_proto.bots import ACTIONS
from okru_proto.testing import FakeOK

from .conftest import MEMBER, BotAdapter

pytestmark = pytest.mark.anyio


async def test_chat_actions(bots: BotAdapter, fake: FakeOK) -> None:
    chat = fake.bots.chat_id
    bot = bots.bot(fake)
    try:
        assert await bots.call(bot.typing, chat) is None
        await bots.call(bot.mark_seen, chat)
        for action in ACTIONS:
            await bots.call(bot.action, chat, action)
        assert fake.bots.actions == [(chat, "TYPING_ON"), (chat, "MARK_SEEN")] + [(chat, a) for a in ACTIONS]
        sent = len(fake.requests)
        for bad in ("typing", "SENDING_FILE", ""):
            with pytest.raises(UsageError, match="TYPING_ON"):
                await bots.call(bot.action, chat, bad)
        assert len(fake.requests) == sent  # refused before any request
        from okru_proto.errors import ChatNotFoundError

        with pytest.raises(ChatNotFoundError):
            await bots.call(bot.typing, "chat:Cnothere")
    finally:
        await bots.close(bot)


async def test_subscriptions_of_both_kinds_with_types(bots: BotAdapter, fake: FakeOK) -> None:
    bot = bots.bot(fake)
    try:
        assert await bots.call(bot.subscribe, "https://bot.example/hook", types=["MESSAGE_CALLBACK"])
        assert await bots.call(bot.subscribe, long_polling=True, types=["MESSAGE_CREATED"])
        subs = {s.long_polling: s for s in await bots.call(bot.subscriptions)}
        assert (subs[False].url, subs[False].types) == ("https://bot.example/hook", ("MESSAGE_CALLBACK",))
        assert (subs[True].url, subs[True].types, subs[True].time) == (None, ("MESSAGE_CREATED",), fake.bots.now_ms)
        # The webhook gets only the types it asked for; long polling only its own.
        fake.bots.user_writes(fake.bots.chat_id, MEMBER, "text")
        fake.bots.press(fake.bots.chat_id, MEMBER, "yes")
        assert [d.event["webhookType"] for d in fake.bots.due()] == ["MESSAGE_CALLBACK"]
        assert [e["webhookType"] for e in fake.bots.polled] == ["MESSAGE_CREATED"]
        with pytest.raises(UsageError):
            await bots.call(bot.subscribe)
        with pytest.raises(UsageError):
            await bots.call(bot.subscribe, "https://bot.example/hook", long_polling=True)
        assert await bots.call(bot.unsubscribe, "https://bot.example/hook")
        assert [s.long_polling for s in await bots.call(bot.subscriptions)] == [True]
    finally:
        await bots.close(bot)


async def test_messages_and_history_use_me_messages(bots: BotAdapter, fake: FakeOK) -> None:
    chat = fake.bots.chat_id
    for n in range(5):
        fake.clock.advance(1)
        fake.bots.user_writes(chat, MEMBER, f"m{n}")
    bot = bots.bot(fake)
    try:
        messages = await bots.call(bot.messages, chat, count=2, include_deleted=True)
        assert [m.text for m in messages] == ["m4", "m3"]
        call = fake.calls(f"/graph/me/messages/{chat}")[-1]
        assert (call.params["count"], call.params["include_deleted"]) == ("2", "true")

        def walk() -> list[str]:
            return [m.text for m in bot.history(chat, 2, include_deleted=False)]

        if bots.blocking:
            import anyio.to_thread

            texts = await anyio.to_thread.run_sync(walk)
        else:
            texts = [m.text async for m in bot.history(chat, 2, include_deleted=False)]
        assert texts == [f"m{n}" for n in reversed(range(5))]
        assert fake.calls(f"/graph/me/messages/{chat}")[-1].params["include_deleted"] == "false"
        assert fake.calls(f"/graph/{chat}/messages") == []
    finally:
        await bots.close(bot)


async def test_image_uploads_multipart_by_default_and_raw_on_request(bots: BotAdapter, fake: FakeOK) -> None:
    chat = fake.bots.chat_id
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    bot = bots.bot(fake)
    try:
        default = await bots.call(bot.upload, picture, "IMAGE", content_type="image/png")
        raw = await bots.call(bot.upload, picture, "IMAGE", content_type="image/png", encoding="raw")
        audio = await bots.call(bot.upload, b"ID3 mp3", "AUDIO", content_type="audio/mpeg", encoding="multipart")
        stored = {u.token: u for u in fake.bots.uploads.values()}
        assert stored[default.token].data == stored[raw.token].data == picture
        assert stored[audio.token].data == b"ID3 mp3"
        bodies = [r.request for r in fake.requests if r.path == "/fu/upload.do"]
        assert bodies[0].header("content-type").startswith("multipart/form-data; boundary=")
        assert bodies[1].header("content-type") == "image/png"
        await bots.call(bot.send, chat, "pic", attachments=[default, raw])
        sent = await bots.call(bot.send_file, chat, picture, "IMAGE", content_type="image/png", settle=0,
                               encoding="raw")
        assert sent.message_id
        with pytest.raises(UsageError):
            await bots.call(bot.upload, picture, "IMAGE", content_type="image/png", encoding="form")
    finally:
        await bots.close(bot)
