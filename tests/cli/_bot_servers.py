"""A small webhook-delivery driver for the emulator's queue (stdlib ``http.client``), for the
``okru bot serve`` tests. (The webhook app's own servers and drivers: tests/asgi.)"""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from okru_proto.testing import Delivery, FakeOK

WAIT = 20.0  # bound on every wait below (never reached when things work)


def post(port: int, body: bytes, *, source: str = "127.0.0.1", path: str = "/hook",
         headers: dict[str, str] | None = None, method: str = "POST") -> int:
    """One request from ``source`` (any 127.0.0.0/8 address: Linux binds them all); the status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers={"content-type": "application/json", **(headers or {})})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def deliver_due(fake: FakeOK) -> list[tuple[Delivery, int | None]]:
    """POST every delivery the emulator has due, from its source address; report each status."""
    done = []
    for delivery in fake.bots.due():
        parts = urlsplit(delivery.url)
        try:
            status: int | None = post(parts.port or 80, delivery.body, source=delivery.source,
                                      path=parts.path or "/")
        except OSError:
            status = None
        fake.bots.delivered(delivery, status)
        done.append((delivery, status))
    return done
