"""The emulator's group bot: one group with chats, members who write and press buttons, the
bot's subscriptions (webhooks and long polling) and the deliveries OK owes them.

:class:`FakeBots` is the state and the test-scripting surface (``fake.bots``); the HTTP side is
``_graph_routes``. Webhook delivery needs I/O, so nothing here sends: events are queued as
:class:`Delivery` values and a driver (a test helper, or ``okru bot``) POSTs them and reports
the status back with :meth:`FakeBots.delivered`, which schedules OK's retries: a non-200 is
retried later, and a subscription that has not answered 200 for 8 hours is cancelled
(docs/protocol.md §11.10; OK publishes no retry schedule, the emulator's is
:data:`RETRY_DELAYS`).

Long polling: with a long-polling subscription, events also go to :attr:`FakeBots.polled`, read
with ``GET me/updates`` (its ``marker`` is a position in that log; a poll without one reads from
where the last one stopped). Whoever serves the emulator over a socket may hold an empty poll
open: :meth:`FakeBots.listen` calls back when news arrives (``FakeOK.hold_for`` says how long).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._errors import UsageError

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["EVENT_TYPES", "POLL_LOG_SIZE", "RETRY_DELAYS", "RETRY_FOR", "BotChat", "Delivery", "FakeBots",
           "LongPolling", "bots_of"]

#: OK stops retrying (and may cancel the subscription) after 8 hours without a 200.
RETRY_FOR = 8 * 3600
#: The emulator's retry delays in seconds (OK's schedule is not published): then every hour.
RETRY_DELAYS = (10, 60, 300, 1800, 3600)
#: The demo group token (the shape of OK's examples; not a real token).
DEMO_BOT_TOKEN = "tkn1demoBOT:CQABPOJKAKEKEKEKE"
#: The event types a subscription filters on (graph.user.subscribe/post).
EVENT_TYPES = ("MESSAGE_CREATED", "MESSAGE_CALLBACK", "CHAT_SYSTEM")
#: The long-polling log keeps this many events; older ones are gone (a marker before them
#: reads from the oldest kept).
POLL_LOG_SIZE = 10_000


@dataclass
class LongPolling:
    """The long-polling subscription: since ``time`` (ms), for these ``types``."""

    time: int
    types: tuple[str, ...]


@dataclass
class BotChat:
    """One chat of the group: members (``user:...`` -> last action, ms) and its messages,
    oldest first, each in OK's message JSON shape."""

    chat_id: str
    title: str
    type: str = "GROUP_CHAT"
    status: str = "ACTIVE"
    owner_id: str = ""
    participants: dict[str, int] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    last_event_time: int = 0

    def to_json(self, group_id: str) -> dict[str, Any]:
        return {"type": self.type, "status": self.status, "title": self.title,
                "icon": {"url": "https://st.mycdn.me/res/i/ok_logo.png"}, "participants": dict(self.participants),
                "lastEventTime": self.last_event_time, "chat_id": self.chat_id, "owner_id": self.owner_id,
                "group_id": group_id}


@dataclass
class Delivery:
    """One webhook POST OK owes a subscribed URL: ``body`` (JSON bytes), from ``source`` (the
    address OK sends from), ``attempt`` (0 first), due at ``due`` (emulator time)."""

    url: str
    body: bytes
    source: str
    attempt: int
    first_at: float
    due: float

    @property
    def event(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclass
class Upload:
    type: str
    upload_id: str
    sig: str
    token: str
    file_id: str | None
    expires_ms: int
    data: bytes | None = None


class FakeBots:
    """The Bot API side of a :class:`~okru_proto.testing.FakeOK` (``fake.bots``).

    Ready to use: group ``group_id`` ("Demo group") with token :attr:`access_token`, and one chat
    :attr:`chat_id` whose members are the demo user's three friends. Script the members with
    :meth:`user_writes` and :meth:`press`; read what the bot sent with :meth:`sent`.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.access_token = DEMO_BOT_TOKEN
        self.token_expired = False
        group = store.groups.get("53000000000001")
        self.group_id = "group:53000000000001"
        self.name = group.name if group is not None else "Demo group"
        #: The address deliveries come from (inside OK's first published range by default).
        self.source_address = "217.20.145.193"
        self.chats: dict[str, BotChat] = {}
        self.subscriptions: dict[str, int] = {}
        #: A webhook subscription's event types (absent: every type).
        self.hook_types: dict[str, tuple[str, ...]] = {}
        self.long_polling: LongPolling | None = None
        #: Events owed to long polling, in order; ``poll_base`` is the position of the first.
        self.polled: list[dict[str, Any]] = []
        self.poll_base = 0
        #: Where a poll without a marker starts (after what the last poll returned).
        self.poll_cursor = 0
        #: Chat actions the bot sent: (chat_id, action), oldest first.
        self.actions: list[tuple[str, str]] = []
        self._listeners: list[Callable[[], None]] = []
        self.uploads: dict[str, Upload] = {}
        self.callbacks: dict[str, tuple[str, str]] = {}
        self.answers: list[dict[str, Any]] = []
        #: Users who allowed messages from the group (needed to write to them by user id).
        self.allowed_users: set[str] = {"user:571000000002"}
        self.queue: list[Delivery] = []
        self.cancelled: list[str] = []
        self.chat_id = self.add_chat("Demo chat", ["user:571000000002", "user:571000000003", "user:571000000004"])

    # -- time and ids ----------------------------------------------------------------------
    @property
    def now_ms(self) -> int:
        return int(self.store.now * 1000)

    def _mid(self, chat_id: str) -> str:
        return f"mid:{chat_id.split(':', 1)[-1]}.{self.store.random_hex(15)}"

    # -- scripting -------------------------------------------------------------------------
    def add_chat(self, title: str, members: Iterable[str] = (), *, chat_type: str = "GROUP_CHAT") -> str:
        """A new chat of the group with these ``user:...`` members; its id."""
        with self.store.lock:
            chat_id = f"chat:C{self.store.random_hex(12)}"
            now = self.now_ms
            self.chats[chat_id] = BotChat(chat_id, title, chat_type, owner_id=self.group_id,
                                          participants=dict.fromkeys(members, now), last_event_time=now)
            return chat_id

    def _chat(self, chat_id: str) -> BotChat:
        chat = self.chats.get(chat_id)
        if chat is None:
            raise UsageError(f"no chat {chat_id!r} in the emulated group")
        return chat

    def add_message(self, chat_id: str, sender: dict[str, str], message: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(chat_id)
        now = self.now_ms
        seq = (chat.messages[-1]["message"]["seq"] + 1) if chat.messages else 98211023614189660
        record = {"sender": sender, "recipient": {"chat_id": chat_id},
                  "message": {**message, "seq": seq, "mid": self._mid(chat_id)}, "timestamp": now}
        chat.messages.append(record)
        chat.last_event_time = now
        return record

    def user_writes(self, chat_id: str, user_id: str, text: str, *,
                    attachments: Sequence[dict[str, Any]] = (), name: str = "Участник") -> str:
        """Member ``user_id`` writes ``text`` in the chat; queues MESSAGE_CREATED; the ``mid``."""
        with self.store.lock:
            chat = self._chat(chat_id)
            if user_id not in chat.participants:
                raise UsageError(f"{user_id} is not a member of {chat_id}")
            message: dict[str, Any] = {"text": text}
            if attachments:
                message["attachments"] = list(attachments)
            record = self.add_message(chat_id, {"name": name, "user_id": user_id}, message)
            chat.participants[user_id] = record["timestamp"]
            self._event({"webhookType": "MESSAGE_CREATED", **record})
            mid: str = record["message"]["mid"]
            return mid

    def press(self, chat_id: str, user_id: str, payload: str, *, name: str = "Участник") -> str:
        """Member ``user_id`` presses a CALLBACK button with ``payload``; queues MESSAGE_CALLBACK;
        the ``callbackId`` (answer it with ``bot.answer``)."""
        with self.store.lock:
            self._chat(chat_id)
            callback_id = self.store.random_hex(20)
            self.callbacks[callback_id] = (chat_id, user_id)
            self._event({"webhookType": "MESSAGE_CALLBACK", "sender": {"name": name, "user_id": user_id},
                         "recipient": {"chat_id": chat_id}, "callbackId": callback_id, "payload": payload,
                         "timestamp": self.now_ms})
            return callback_id

    def system_event(self, chat_id: str, **fields: Any) -> None:
        """A CHAT_SYSTEM event (OK publishes no body for it: ``fields`` are added as given)."""
        with self.store.lock:
            self._chat(chat_id)
            self._event({"webhookType": "CHAT_SYSTEM", "recipient": {"chat_id": chat_id},
                         "timestamp": self.now_ms, **fields})

    def sent(self, chat_id: str) -> list[dict[str, Any]]:
        """The messages the bot sent to a chat, oldest first (OK's message JSON)."""
        return [m for m in self._chat(chat_id).messages if m["sender"].get("group_id") == self.group_id]

    # -- delivery --------------------------------------------------------------------------
    def _event(self, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        now = self.store.now
        kind = body.get("webhookType")
        for url in self.subscriptions:
            types = self.hook_types.get(url)
            if types is None or kind in types:
                self.queue.append(Delivery(url, data, self.source_address, 0, now, now))
        if self.long_polling is not None and kind in self.long_polling.types:
            self.polled.append(body)
            if len(self.polled) > POLL_LOG_SIZE:
                drop = len(self.polled) - POLL_LOG_SIZE
                del self.polled[:drop]
                self.poll_base += drop
        self._notify()

    @property
    def poll_end(self) -> int:
        """The position after the last event owed to long polling."""
        return self.poll_base + len(self.polled)

    def poll(self, start: int, count: int) -> tuple[list[dict[str, Any]], int]:
        """Up to ``count`` long-polling events from position ``start`` and the position after
        them; a poll without a marker moves :attr:`poll_cursor`."""
        with self.store.lock:
            first = max(start, self.poll_base)
            events = self.polled[first - self.poll_base:first - self.poll_base + count]
            return events, first + len(events)

    def listen(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` (from whichever thread changes the emulator) whenever an event is
        queued; returns the function that stops it. The callback must be quick and never raise
        (e.g. ``trio_token.run_sync_soon(event.set)``)."""
        with self.store.lock:
            self._listeners.append(callback)

        def stop() -> None:
            with self.store.lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return stop

    @property
    def listeners(self) -> int:
        """How many callbacks :meth:`listen` holds now (each long poll a server holds is one)."""
        return len(self._listeners)

    def _notify(self) -> None:
        for callback in list(self._listeners):
            try:
                callback()
            except Exception:  # a listener's failure must not break the emulator
                pass

    def next_due(self) -> float | None:
        """When the earliest queued delivery is due (emulator time), or None."""
        with self.store.lock:
            return min((d.due for d in self.queue), default=None)

    def due(self) -> list[Delivery]:
        """The deliveries due now, taken off the queue (report each with :meth:`delivered`)."""
        with self.store.lock:
            now = self.store.now
            ready = [d for d in self.queue if d.due <= now]
            self.queue = [d for d in self.queue if d.due > now]
            return ready

    def delivered(self, delivery: Delivery, status: int | None) -> None:
        """The driver's report: the HTTP status the subscriber answered (None: no answer).
        Anything but 200 is retried; after 8 hours of failures the subscription is cancelled."""
        with self.store.lock:
            if status == 200:
                return
            now = self.store.now
            delay = RETRY_DELAYS[min(delivery.attempt, len(RETRY_DELAYS) - 1)]
            if now + delay - delivery.first_at > RETRY_FOR:
                if self.subscriptions.pop(delivery.url, None) is not None:
                    self.hook_types.pop(delivery.url, None)
                    self.cancelled.append(delivery.url)
                self.queue = [d for d in self.queue if d.url != delivery.url]
                return
            self.queue.append(Delivery(delivery.url, delivery.body, delivery.source, delivery.attempt + 1,
                                       delivery.first_at, now + delay))


def bots_of(store: Store) -> FakeBots:
    """The store's :class:`FakeBots`, created on first use."""
    bots = store.__dict__.get("_bots")
    if bots is None:
        with store.lock:
            bots = store.__dict__.setdefault("_bots", FakeBots(store))
    return bots  # type: ignore[no-any-return]
