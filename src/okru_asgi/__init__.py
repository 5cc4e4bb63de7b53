"""okru_asgi: server-side ASGI apps for OK.ru, on anyio (any ASGI server, asyncio or trio).

* :func:`payments_app`: answers OK's ``callbacks.payment`` and credits each payment exactly once
  (docs/apps.md).
"""

from __future__ import annotations

from .payments import PaymentsApp, payments_app

__all__ = ["PaymentsApp", "payments_app"]
