"""``okru_proto.testing``: an in-memory OK.ru server for tests (pure; standard library only).

``FakeOK().handle(request) -> response`` answers REST calls, ``/oauth/token.do``, the OAuth
dialogs and the photo upload host as OK.ru does (docs/protocol.md). See ``docs/emulator.md``.
"""

from ._bots import BotChat, Delivery, FakeBots
from ._clock import DEFAULT_EPOCH, Clock, FakeClock, WallClock
from ._fake import FakeOK
from ._faults import FAULTS, Action, Fault
from ._model import AccessToken, App, Group, ReceivedRequest, User

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
    "Fault",
    "Group",
    "ReceivedRequest",
    "User",
    "WallClock",
]
