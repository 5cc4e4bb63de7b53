"""okru_asgi: the server side of OK.ru apps, as ASGI applications on anyio.

For applications that OK.ru calls: a bot's webhook receiver (:func:`webhook_app`). Each app
runs under any ASGI server (uvicorn, hypercorn...) on asyncio or trio, checks that the request
comes from OK's published networks, and is bounded in bytes, concurrency and time. The protocol
itself (what a webhook body means, which networks are OK's) is the core's
(:mod:`okru_proto.bots`); this package only serves it.

Install with the ``asgi`` extra (``pip install 'okru[asgi]'``: anyio).
"""

from __future__ import annotations

from okru_proto import __version__ as __version__  # one version for every okru package

from ._webhook import WebhookApp, webhook_app

__all__ = ["WebhookApp", "webhook_app"]
