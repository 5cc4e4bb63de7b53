"""What every adapter's ``BotSession`` does with :class:`BotCore`'s flows: sync and async, once.

An adapter's ``BotSession`` mixes in :class:`SyncBotBase` or :class:`AsyncBotBase` and calls
:meth:`BotSessionSpec._setup_bot` with its own unsigned ``PublicSession`` class: that session
is the transport (its ``_send``/``_sleep`` and options: client, timeouts...), so no HTTP code is
written twice. Every method here only drives a core flow; the async twins only await what the
adapter gave, so they run under asyncio and trio alike. Long polling (``updates``) keeps its
position on the session (:class:`UpdatesPoller`), so a second ``updates()`` loop on the same
session carries on where the first stopped; ``run_polling`` feeds a :class:`Router` from it.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Sequence,
)
from typing import Any

from .._errors import UsageError
from .._flow import Flow, RetryPolicy, T, run_async, run_sync
from .._paging import DEFAULT_MAX_PAGES
from .._values import Request, Response
from ._flows import (
    DEFAULT_POLL_TIMEOUT,
    POLL_BACKOFF,
    BotCore,
    ChatsPager,
    HistoryPager,
    PollSettings,
    UpdatesPoller,
)
from ._graph import UPLOAD_SETTLE_SECONDS
from ._router import Router
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
from ._webhook import WebhookEvent

__all__ = ["BOT_OPTIONS", "AsyncBotBase", "BotSessionSpec", "SyncBotBase"]

log = logging.getLogger("okru.bots")

#: Seconds a handler may run under ``run_polling`` by default (as ``okru_asgi.webhook_app``'s).
HANDLER_TIMEOUT = 60.0

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
    _poller: UpdatesPoller | None = None

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

    def _polling(self, types: Sequence[str] | None, timeout: float, subscribe: bool,
                 backoff: RetryPolicy | None) -> tuple[UpdatesPoller, PollSettings]:
        # The clock that tells a held poll from one answered at once: the core's if given, else
        # the transport's (the adapters pass time in; the core reads no clock of its own).
        clock = self._core.clock or getattr(self._http, "_clock", None)
        settings = PollSettings(None if types is None else tuple(types) if not isinstance(types, str) else (types,),
                                timeout, subscribe, POLL_BACKOFF if backoff is None else backoff, clock)
        if self._poller is None:
            self._poller = UpdatesPoller()
        return self._poller, settings

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
        pager = ChatsPager(count, max_pages)
        while not pager.done:
            yield from self._run(pager.page_flow(self._core))

    def chat(self, chat_id: str) -> Chat:
        return self._run(self._core.chat_flow(chat_id))

    def chat_url(self, chat_id: str) -> str:
        """A direct link to the chat."""
        return self._run(self._core.chat_url_flow(chat_id))

    def messages(self, chat_id: str, *, count: int | None = None, from_ms: int | None = None,
                 to_ms: int | None = None, include_deleted: bool | None = None) -> tuple[ChatMessage, ...]:
        """A chat's messages, newest first (``from_ms`` newest, ``to_ms`` oldest, epoch ms)."""
        return self._run(self._core.messages_flow(chat_id, count=count, from_ms=from_ms, to_ms=to_ms,
                                                  include_deleted=include_deleted))

    def history(self, chat_id: str, count: int | None = None, *, max_pages: int = DEFAULT_MAX_PAGES,
                include_deleted: bool | None = None) -> Iterator[ChatMessage]:
        """Every message of a chat, newest first, fetched page by page as you iterate."""
        pager = HistoryPager(chat_id, count, max_pages, include_deleted)
        while not pager.done:
            yield from self._run(pager.page_flow(self._core))

    def action(self, chat_id: str, action: str) -> None:
        """Show the chat what the bot is doing: ``TYPING_ON``, ``SENDING_PHOTO``,
        ``SENDING_VIDEO``, ``SENDING_AUDIO``; or ``MARK_SEEN`` (all messages read)."""
        self._run(self._core.action_flow(chat_id, action))

    def typing(self, chat_id: str) -> None:
        """``action(chat_id, "TYPING_ON")``: "the bot is writing a message"."""
        self._run(self._core.action_flow(chat_id, "TYPING_ON"))

    def mark_seen(self, chat_id: str) -> None:
        """``action(chat_id, "MARK_SEEN")``: mark the chat's messages read."""
        self._run(self._core.action_flow(chat_id, "MARK_SEEN"))

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

    def upload(self, data: bytes, type: str = "FILE", *, content_type: str | None = None,
               encoding: str | None = None) -> Attachment:
        """Upload a file (FILE, VIDEO, AUDIO, IMAGE); the attachment to send with it.
        ``encoding``: ``"raw"`` or ``"multipart"`` (default: multipart for IMAGE, see docs/bots.md)."""
        return self._run(self._core.upload_flow(data, type, content_type, encoding=encoding,
                                                boundary=secrets.token_hex(16)))

    def send_file(self, chat_id: str, data: bytes, type: str = "FILE", *, content_type: str | None = None,
                  text: str | None = None, settle: float = UPLOAD_SETTLE_SECONDS,
                  encoding: str | None = None) -> SentMessage:
        """Upload, wait ``settle`` seconds (OK processes the file first), send."""
        return self._run(self._core.send_file_flow(chat_id, data, type, content_type=content_type, text=text,
                                                   settle=settle, encoding=encoding,
                                                   boundary=secrets.token_hex(16)))

    def subscribe(self, url: str | None = None, *, types: Sequence[str] | None = None,
                  long_polling: bool = False) -> bool:
        """Have OK POST chat events to ``url`` (``okru_asgi.webhook_app`` receives them), or keep
        them for long polling (``long_polling=True``, read with :meth:`updates`); ``types``
        limits the events (``MESSAGE_CREATED``, ``MESSAGE_CALLBACK``, ``CHAT_SYSTEM``)."""
        return self._run(self._core.subscribe_flow(url, types=types, long_polling=long_polling))

    def unsubscribe(self, url: str) -> bool:
        return self._run(self._core.unsubscribe_flow(url))

    def subscriptions(self) -> tuple[Subscription, ...]:
        return self._run(self._core.subscriptions_flow())

    def updates(self, *, types: Sequence[str] | None = None, timeout: float = DEFAULT_POLL_TIMEOUT,
                subscribe: bool = True, backoff: RetryPolicy | None = None) -> Generator[WebhookEvent, None, None]:
        """Chat events by long polling (``GET me/updates``), forever: the same events as
        ``parse_webhook`` returns, in order, each once. Each poll waits on OK up to ``timeout``
        seconds (keep it under the session's read timeout); with no long-polling subscription
        it subscribes (``subscribe=False``: it raises instead); failures back off (``backoff``,
        1 s doubling to 30 s) and poll again. See docs/bots.md."""
        poller, settings = self._polling(types, timeout, subscribe, backoff)
        while True:
            event = poller.take()
            if event is None:
                poller.add(self._run(poller.poll_flow(self._core, settings)))
            else:
                yield event

    def run_polling(self, router: Router, *, types: Sequence[str] | None = None,
                    timeout: float = DEFAULT_POLL_TIMEOUT, stop: threading.Event | None = None) -> None:
        """Feed every long-polled event to ``router`` (``router.feed_sync``) in this thread, until
        ``stop`` is set (checked between events and polls: within ``timeout`` seconds) or Ctrl-C.
        ``types`` defaults to the kinds the router has handlers for."""
        if not isinstance(router, Router):
            raise UsageError(f"run_polling takes an okru_proto.bots.Router, got {type(router).__name__}")
        if stop is not None and not callable(getattr(stop, "is_set", None)):
            raise UsageError("stop must be a threading.Event (or anything with is_set())")
        events = self.updates(types=router.event_types() if types is None else types, timeout=timeout)
        try:
            if stop is not None and stop.is_set():
                return
            for event in events:
                router.feed_sync(event, self)
                if stop is not None and stop.is_set():
                    return
        except KeyboardInterrupt:
            log.info("run_polling: stopped by Ctrl-C")
        finally:
            events.close()


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
        pager = ChatsPager(count, max_pages)
        while not pager.done:
            for chat in await self._run(pager.page_flow(self._core)):
                yield chat

    async def chat(self, chat_id: str) -> Chat:
        return await self._run(self._core.chat_flow(chat_id))

    async def chat_url(self, chat_id: str) -> str:
        """A direct link to the chat."""
        return await self._run(self._core.chat_url_flow(chat_id))

    async def messages(self, chat_id: str, *, count: int | None = None, from_ms: int | None = None,
                       to_ms: int | None = None, include_deleted: bool | None = None) -> tuple[ChatMessage, ...]:
        """A chat's messages, newest first (``from_ms`` newest, ``to_ms`` oldest, epoch ms)."""
        return await self._run(self._core.messages_flow(chat_id, count=count, from_ms=from_ms, to_ms=to_ms,
                                                        include_deleted=include_deleted))

    async def history(self, chat_id: str, count: int | None = None, *, max_pages: int = DEFAULT_MAX_PAGES,
                      include_deleted: bool | None = None) -> AsyncIterator[ChatMessage]:
        """Every message of a chat, newest first, fetched page by page as you iterate."""
        pager = HistoryPager(chat_id, count, max_pages, include_deleted)
        while not pager.done:
            for message in await self._run(pager.page_flow(self._core)):
                yield message

    async def action(self, chat_id: str, action: str) -> None:
        """Show the chat what the bot is doing: ``TYPING_ON``, ``SENDING_PHOTO``,
        ``SENDING_VIDEO``, ``SENDING_AUDIO``; or ``MARK_SEEN`` (all messages read)."""
        await self._run(self._core.action_flow(chat_id, action))

    async def typing(self, chat_id: str) -> None:
        """``action(chat_id, "TYPING_ON")``: "the bot is writing a message"."""
        await self._run(self._core.action_flow(chat_id, "TYPING_ON"))

    async def mark_seen(self, chat_id: str) -> None:
        """``action(chat_id, "MARK_SEEN")``: mark the chat's messages read."""
        await self._run(self._core.action_flow(chat_id, "MARK_SEEN"))

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

    async def upload(self, data: bytes, type: str = "FILE", *, content_type: str | None = None,
                     encoding: str | None = None) -> Attachment:
        """Upload a file (FILE, VIDEO, AUDIO, IMAGE); the attachment to send with it.
        ``encoding``: ``"raw"`` or ``"multipart"`` (default: multipart for IMAGE, see docs/bots.md)."""
        return await self._run(self._core.upload_flow(data, type, content_type, encoding=encoding,
                                                      boundary=secrets.token_hex(16)))

    async def send_file(self, chat_id: str, data: bytes, type: str = "FILE", *, content_type: str | None = None,
                        text: str | None = None, settle: float = UPLOAD_SETTLE_SECONDS,
                        encoding: str | None = None) -> SentMessage:
        """Upload, wait ``settle`` seconds (OK processes the file first), send."""
        return await self._run(self._core.send_file_flow(chat_id, data, type, content_type=content_type,
                                                         text=text, settle=settle, encoding=encoding,
                                                         boundary=secrets.token_hex(16)))

    async def subscribe(self, url: str | None = None, *, types: Sequence[str] | None = None,
                        long_polling: bool = False) -> bool:
        """Have OK POST chat events to ``url`` (``okru_asgi.webhook_app`` receives them), or keep
        them for long polling (``long_polling=True``, read with :meth:`updates`); ``types``
        limits the events (``MESSAGE_CREATED``, ``MESSAGE_CALLBACK``, ``CHAT_SYSTEM``)."""
        return await self._run(self._core.subscribe_flow(url, types=types, long_polling=long_polling))

    async def unsubscribe(self, url: str) -> bool:
        return await self._run(self._core.unsubscribe_flow(url))

    async def subscriptions(self) -> tuple[Subscription, ...]:
        return await self._run(self._core.subscriptions_flow())

    async def updates(self, *, types: Sequence[str] | None = None, timeout: float = DEFAULT_POLL_TIMEOUT,
                      subscribe: bool = True, backoff: RetryPolicy | None = None
                      ) -> AsyncGenerator[WebhookEvent, None]:
        """Chat events by long polling (``GET me/updates``), forever: the same events as
        ``parse_webhook`` returns, in order, each once. Each poll waits on OK up to ``timeout``
        seconds (keep it under the session's read timeout); with no long-polling subscription
        it subscribes (``subscribe=False``: it raises instead); failures back off (``backoff``,
        1 s doubling to 30 s) and poll again. Cancel the task (or ``break``) to stop: the poll in
        flight is abandoned and the next loop on this session carries on. See docs/bots.md."""
        poller, settings = self._polling(types, timeout, subscribe, backoff)
        while True:
            event = poller.take()
            if event is None:
                poller.add(await self._run(poller.poll_flow(self._core, settings)))
            else:
                yield event

    async def run_polling(self, router: Router, *, types: Sequence[str] | None = None,
                          timeout: float = DEFAULT_POLL_TIMEOUT,
                          handler_timeout: float | None = HANDLER_TIMEOUT) -> None:
        """Feed every long-polled event to ``router`` (``await router.feed(event, bot)``), one at
        a time, in order, until the task is cancelled (the cancellation propagates after the
        iterator is closed). ``types`` defaults to the kinds the router has handlers for. A
        handler still running after ``handler_timeout`` seconds (default 60; None: no limit) is
        cancelled, a WARNING says so, and the loop goes on with the next event."""
        if not isinstance(router, Router):
            raise UsageError(f"run_polling takes an okru_proto.bots.Router, got {type(router).__name__}")
        if handler_timeout is not None and (type(handler_timeout) not in (int, float)
                                            or not 0 < handler_timeout < float("inf")):
            raise UsageError(f"handler_timeout is seconds > 0 (or None), got {handler_timeout!r}")
        # The adapter's cancel scope (anyio's or trio's): the core itself touches no event loop.
        scope_for = getattr(self, "_handler_scope", None) if handler_timeout is not None else None
        events = self.updates(types=router.event_types() if types is None else types, timeout=timeout)
        try:
            async for event in events:
                if scope_for is None:
                    await router.feed(event, self)
                    continue
                with scope_for(handler_timeout) as scope:
                    await router.feed(event, self)
                if scope.cancelled_caught:
                    log.warning("run_polling: the handler of a %s event ran over %g s and was cancelled",
                                event.webhook_type or "an", handler_timeout)
        finally:
            await events.aclose()
