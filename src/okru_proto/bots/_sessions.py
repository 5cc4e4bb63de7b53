"""What every adapter's ``BotSession`` does with :class:`BotCore`'s flows: sync and async, once.

An adapter's ``BotSession`` mixes in :class:`SyncBotBase` or :class:`AsyncBotBase` and calls
:meth:`BotSessionSpec._setup_bot` with its own unsigned ``PublicSession`` class: that session
is the transport (its ``_send``/``_sleep`` and options: client, timeouts...), so no HTTP code is
written twice. Every method here only drives a core flow; the async twins only await what the
adapter gave, so they run under asyncio and trio alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any

from .._errors import UsageError
from .._flow import Flow, T, run_async, run_sync
from .._paging import DEFAULT_MAX_PAGES
from .._values import Request, Response
from ._flows import BotCore, HistoryPager
from ._graph import UPLOAD_SETTLE_SECONDS
from ._values import (
    Attachment,
    BotInfo,
    Button,
    Chat,
    ChatMessage,
    ChatsPage,
    DirectSend,
    SentMessage,
    Subscription,
    keyboard,
)

__all__ = ["BOT_OPTIONS", "AsyncBotBase", "BotSessionSpec", "SyncBotBase"]

#: Options the bot core takes; the rest (client, timeout, transport...) go to the adapter.
BOT_OPTIONS = frozenset({"endpoints", "retry"})
#: REST session options that mean nothing for a group token (no signing, no refresh).
_REST_ONLY = frozenset({"pass_error", "on_token", "auto_refresh", "refresh_before", "http_method", "app_key"})


def _attachments(attachments: Sequence[Attachment], keys: Iterable[Iterable[Button]] | Attachment | None
                 ) -> list[Attachment]:
    items = list(attachments)
    if keys is not None:
        items.append(keys if isinstance(keys, Attachment) else keyboard(keys))
    return items


class BotSessionSpec:
    """The options and the core every adapter's ``BotSession`` shares."""

    _core: BotCore
    _http: Any

    def _setup_bot(self, access_token: str, options: dict[str, Any], transport: Callable[..., Any]) -> None:
        refused = sorted(options.keys() & _REST_ONLY)
        if refused:
            raise UsageError(f"{type(self).__name__} does not take {', '.join(refused)} (REST session options)")
        core_options = {k: options.pop(k) for k in list(options) if k in BOT_OPTIONS}
        self._core = BotCore(access_token, **core_options)
        try:
            self._http = transport(endpoints=self._core.endpoints, **options)
        except UsageError as exc:
            raise UsageError(str(exc).replace("PublicSession", type(self).__name__)) from None
        self._send = self._http._send
        self._sleep = self._http._sleep

    @property
    def core(self) -> BotCore:
        return self._core

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api={self._core.endpoints.api!r})"


class SyncBotBase(BotSessionSpec):
    """The blocking bot methods (``okru_httpx.sync.BotSession``)."""

    _send: Callable[[Request], Response]
    _sleep: Callable[[float], object]

    def _run(self, flow: Flow[T]) -> T:
        return run_sync(flow, self._send, self._sleep)

    def info(self) -> BotInfo:
        """The group the token belongs to (``GET me/info``)."""
        return self._run(self._core.info_flow())

    def chats_page(self, marker: str | None = None, count: int | None = None) -> ChatsPage:
        """One page of chats, most recently active first; pass its ``marker`` for the next."""
        return self._run(self._core.chats_page_flow(marker, count))

    def chats(self, count: int | None = None, *, max_pages: int = DEFAULT_MAX_PAGES) -> Iterator[Chat]:
        """Every chat of the group, fetched page by page as you iterate (OK's marker)."""
        marker: str | None = None
        seen: set[str] = set()
        for _ in range(max_pages):
            page = self.chats_page(marker, count)
            yield from page.chats
            if page.marker is None or page.marker in seen:
                return
            seen.add(page.marker)
            marker = page.marker

    def chat(self, chat_id: str) -> Chat:
        return self._run(self._core.chat_flow(chat_id))

    def chat_url(self, chat_id: str) -> str:
        """A direct link to the chat."""
        return self._run(self._core.chat_url_flow(chat_id))

    def messages(self, chat_id: str, *, count: int | None = None, from_ms: int | None = None,
                 to_ms: int | None = None) -> tuple[ChatMessage, ...]:
        """A chat's messages, newest first (``from_ms`` newest, ``to_ms`` oldest, epoch ms)."""
        return self._run(self._core.messages_flow(chat_id, count=count, from_ms=from_ms, to_ms=to_ms))

    def history(self, chat_id: str, count: int | None = None, *,
                max_pages: int = DEFAULT_MAX_PAGES) -> Iterator[ChatMessage]:
        """Every message of a chat, newest first, fetched page by page as you iterate."""
        pager = HistoryPager(chat_id, count, max_pages)
        while not pager.done:
            yield from self._run(pager.page_flow(self._core))

    def send(self, chat_id: str, text: str | None = None, *, attachments: Sequence[Attachment] = (),
             keyboard: Iterable[Iterable[Button]] | Attachment | None = None,
             reply_to: str | None = None) -> SentMessage:
        """Send to a chat: ``bot.send(chat_id, "Привет")``; up to 5 attachments (a keyboard counts)."""
        return self._run(self._core.send_flow(chat_id, text, _attachments(attachments, keyboard), reply_to=reply_to))

    def send_to_users(self, user_ids: Sequence[str], text: str | None = None, *,
                      attachments: Sequence[Attachment] = ()) -> tuple[DirectSend, ...]:
        return self._run(self._core.send_to_users_flow(user_ids, text, attachments))

    def answer(self, chat_id: str, callback_id: str, text: str | None = None, *,
               attachments: Sequence[Attachment] = (),
               keyboard: Iterable[Iterable[Button]] | Attachment | None = None) -> Any:
        """Answer a button press (a MESSAGE_CALLBACK event) with a message."""
        return self._run(self._core.answer_flow(chat_id, callback_id, text, _attachments(attachments, keyboard)))

    def edit(self, message_id: str, text: str | None = None, *, attachments: Sequence[Attachment] = ()) -> Any:
        return self._run(self._core.edit_flow(message_id, text, attachments))

    def upload(self, data: bytes, type: str = "FILE", *, content_type: str | None = None) -> Attachment:
        """Upload a file (FILE, VIDEO, AUDIO, IMAGE); the attachment to send with it."""
        return self._run(self._core.upload_flow(data, type, content_type))

    def send_file(self, chat_id: str, data: bytes, type: str = "FILE", *, content_type: str | None = None,
                  text: str | None = None, settle: float = UPLOAD_SETTLE_SECONDS) -> SentMessage:
        """Upload, wait ``settle`` seconds (OK processes the file first), send."""
        return self._run(self._core.send_file_flow(chat_id, data, type, content_type=content_type, text=text,
                                                   settle=settle))

    def subscribe(self, url: str) -> bool:
        """Have OK POST chat events to ``url`` (see ``okru_proto.bots.webhook_app``)."""
        return self._run(self._core.subscribe_flow(url))

    def unsubscribe(self, url: str) -> bool:
        return self._run(self._core.unsubscribe_flow(url))

    def subscriptions(self) -> tuple[Subscription, ...]:
        return self._run(self._core.subscriptions_flow())


class AsyncBotBase(BotSessionSpec):
    """The async twin of :class:`SyncBotBase` (``okru_httpx.BotSession``, ``okru_trio.BotSession``)."""

    _send: Callable[[Request], Awaitable[Response]]
    _sleep: Callable[[float], Awaitable[object]]

    async def _run(self, flow: Flow[T]) -> T:
        return await run_async(flow, self._send, self._sleep)

    async def info(self) -> BotInfo:
        """The group the token belongs to (``GET me/info``)."""
        return await self._run(self._core.info_flow())

    async def chats_page(self, marker: str | None = None, count: int | None = None) -> ChatsPage:
        """One page of chats, most recently active first; pass its ``marker`` for the next."""
        return await self._run(self._core.chats_page_flow(marker, count))

    async def chats(self, count: int | None = None, *, max_pages: int = DEFAULT_MAX_PAGES) -> AsyncIterator[Chat]:
        """Every chat of the group, fetched page by page as you iterate (OK's marker)."""
        marker: str | None = None
        seen: set[str] = set()
        for _ in range(max_pages):
            page = await self.chats_page(marker, count)
            for chat in page.chats:
                yield chat
            if page.marker is None or page.marker in seen:
                return
            seen.add(page.marker)
            marker = page.marker

    async def chat(self, chat_id: str) -> Chat:
        return await self._run(self._core.chat_flow(chat_id))

    async def chat_url(self, chat_id: str) -> str:
        """A direct link to the chat."""
        return await self._run(self._core.chat_url_flow(chat_id))

    async def messages(self, chat_id: str, *, count: int | None = None, from_ms: int | None = None,
                       to_ms: int | None = None) -> tuple[ChatMessage, ...]:
        """A chat's messages, newest first (``from_ms`` newest, ``to_ms`` oldest, epoch ms)."""
        return await self._run(self._core.messages_flow(chat_id, count=count, from_ms=from_ms, to_ms=to_ms))

    async def history(self, chat_id: str, count: int | None = None, *,
                      max_pages: int = DEFAULT_MAX_PAGES) -> AsyncIterator[ChatMessage]:
        """Every message of a chat, newest first, fetched page by page as you iterate."""
        pager = HistoryPager(chat_id, count, max_pages)
        while not pager.done:
            for message in await self._run(pager.page_flow(self._core)):
                yield message

    async def send(self, chat_id: str, text: str | None = None, *, attachments: Sequence[Attachment] = (),
                   keyboard: Iterable[Iterable[Button]] | Attachment | None = None,
                   reply_to: str | None = None) -> SentMessage:
        """Send to a chat: ``await bot.send(chat_id, "Привет")``; up to 5 attachments (a keyboard counts)."""
        return await self._run(self._core.send_flow(chat_id, text, _attachments(attachments, keyboard),
                                                    reply_to=reply_to))

    async def send_to_users(self, user_ids: Sequence[str], text: str | None = None, *,
                            attachments: Sequence[Attachment] = ()) -> tuple[DirectSend, ...]:
        return await self._run(self._core.send_to_users_flow(user_ids, text, attachments))

    async def answer(self, chat_id: str, callback_id: str, text: str | None = None, *,
                     attachments: Sequence[Attachment] = (),
                     keyboard: Iterable[Iterable[Button]] | Attachment | None = None) -> Any:
        """Answer a button press (a MESSAGE_CALLBACK event) with a message."""
        return await self._run(self._core.answer_flow(chat_id, callback_id, text,
                                                      _attachments(attachments, keyboard)))

    async def edit(self, message_id: str, text: str | None = None, *,
                   attachments: Sequence[Attachment] = ()) -> Any:
        return await self._run(self._core.edit_flow(message_id, text, attachments))

    async def upload(self, data: bytes, type: str = "FILE", *, content_type: str | None = None) -> Attachment:
        """Upload a file (FILE, VIDEO, AUDIO, IMAGE); the attachment to send with it."""
        return await self._run(self._core.upload_flow(data, type, content_type))

    async def send_file(self, chat_id: str, data: bytes, type: str = "FILE", *, content_type: str | None = None,
                        text: str | None = None, settle: float = UPLOAD_SETTLE_SECONDS) -> SentMessage:
        """Upload, wait ``settle`` seconds (OK processes the file first), send."""
        return await self._run(self._core.send_file_flow(chat_id, data, type, content_type=content_type,
                                                         text=text, settle=settle))

    async def subscribe(self, url: str) -> bool:
        """Have OK POST chat events to ``url`` (see ``okru_proto.bots.webhook_app``)."""
        return await self._run(self._core.subscribe_flow(url))

    async def unsubscribe(self, url: str) -> bool:
        return await self._run(self._core.unsubscribe_flow(url))

    async def subscriptions(self) -> tuple[Subscription, ...]:
        return await self._run(self._core.subscriptions_flow())
