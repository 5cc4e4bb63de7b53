"""``okru_asgi.payments``: the ASGI app that answers OK.ru's ``callbacks.payment`` and credits
each payment exactly once (docs/apps.md). The request side is ``_app``'s; running the handler once
per transaction across processes is ``_once``'s."""

from __future__ import annotations

from ._app import PaymentsApp, payments_app

__all__ = ["PaymentsApp", "payments_app"]
