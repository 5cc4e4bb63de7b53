"""``okru_proto.testing``: an in-memory OK.ru server for tests (pure; standard library only).

``FakeOK().handle(request) -> response`` answers REST calls, ``/oauth/token.do``, the OAuth
dialogs and the photo upload host as OK.ru does (docs/protocol.md). See ``docs/emulator.md``;
``fake.payments`` plays OK's side of a game (launches, ``callbacks.payment``; ``docs/apps.md``).
"""

from ._bots import BotChat, Delivery, FakeBots
from ._clock import DEFAULT_EPOCH, Clock, FakeClock, WallClock
from ._fake import FakeOK
from ._faults import FAULTS, Action, Fault
from ._model import AccessToken, App, Group, ReceivedRequest, User
from ._payments import FakePayments, PaymentAttempt, Purchase

__all__ = [
    "DEFAULT_EPOCH",
    "FAULTS",
    "AccessToken",
    "Action",
    "App",
    "BotChat",
    "Clock",
    "Delivery",
    "FakeBots",
    "FakeClock",
    "FakeOK",
    "FakePayments",
    "Fault",
    "Group",
    "PaymentAttempt",
    "Purchase",
    "ReceivedRequest",
    "User",
    "WallClock",
]
