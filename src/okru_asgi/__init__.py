"""okru_asgi: the server side of OK.ru apps, as ASGI applications on anyio.

For applications that OK.ru calls: a bot's webhook receiver (:func:`webhook_app`,
docs/bots.md) and a game's payment callback (:func:`payments_app`, docs/apps.md: each payment
credited exactly once). Each app runs under any ASGI server (uvicorn, hypercorn...) on asyncio
or trio, checks that the request comes from OK's published networks, and is bounded in bytes,
concurrency and time. The protocol itself (what a webhook body or a payment means, which
networks are OK's) is the core's (:mod:`okru_proto.bots`, :mod:`okru_proto.apps`); this
package only serves it.

Install with the ``asgi`` extra (``pip install 'okru[asgi]'``: anyio).
"""

from __future__ import annotations

from okru_proto import __version__ as __version__  # one version for every okru package

from ._webhook import WebhookApp, webhook_app
from .payments import PaymentsApp, payments_app

__all__ = ["PaymentsApp", "WebhookApp", "payments_app", "webhook_app"]
