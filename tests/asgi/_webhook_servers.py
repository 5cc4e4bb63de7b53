"""What the webhook tests drive ``webhook_app`` with, beyond the real servers and clients of
tests/servers.py: event bodies, an in-process driver that calls the app as a server does, the
app's lifespan, and the ``_webhook_worker`` process."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from tests.servers import WAIT, Control, Worker

OK_ADDRESS = "217.20.145.193"  # in OK's published webhook networks
SECRET = "tkn1SECRETtoken"


def message(n: int, text: str | None = None, chat: str = "C1") -> bytes:
    """A MESSAGE_CREATED body whose message id is ``mid:<chat>.<n>``."""
    return json.dumps({"webhookType": "MESSAGE_CREATED", "sender": {"user_id": "user:1"},
                       "recipient": {"chat_id": f"chat:{chat}"},
                       "message": {"text": f"{SECRET} {n}" if text is None else text, "seq": n,
                                   "mid": f"mid:{chat}.{n}"},
                       "timestamp": n}).encode()


class Direct:
    """An app called in-process as a server calls it: each request is a task of ``tasks`` (it
    may go on after its answer: the handler then runs in it when there is no lifespan);
    :meth:`post` returns the status once the whole answer was sent; :meth:`settled` waits until
    every call has returned."""

    def __init__(self, app: Any, tasks: anyio.abc.TaskGroup) -> None:
        self.app = app
        self.tasks = tasks
        self.calls = 0
        self._settled = anyio.Event()
        self.bodies: list[bytes] = []

    def scope(self, client: str = OK_ADDRESS, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
        return {"type": "http", "method": "POST", "client": (client, 4000), "path": "/hook",
                "headers": [(b"content-type", b"application/json")] if headers is None else headers}

    async def post(self, body: bytes, *, client: str = OK_ADDRESS,
                   headers: list[tuple[bytes, bytes]] | None = None) -> int:
        answered = anyio.Event()
        status: list[int] = []
        reply: list[bytes] = []
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:  # a server answers a read after the body with a disconnect once the client goes
                await anyio.sleep_forever()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(msg: Any) -> None:
            assert not answered.is_set(), "the app sent after its answer was complete"
            if msg["type"] == "http.response.start":
                status.append(msg["status"])
            elif msg["type"] == "http.response.body":
                reply.append(msg.get("body", b""))
                if not msg.get("more_body", False):
                    answered.set()

        async def call() -> None:
            self.calls += 1
            try:
                await self.app(self.scope(client, headers), receive, send)
            finally:
                answered.set()
                self.calls -= 1
                if not self.calls:
                    self._settled.set()

        self._settled = anyio.Event()
        self.tasks.start_soon(call)
        await answered.wait()
        assert len(status) == 1, f"the app answered {status}"
        self.bodies.append(b"".join(reply))
        return status[0]

    async def settled(self, handlers: bool = True) -> None:
        """Every call returned, and (``handlers``) the handlers they started with lifespan ended
        too: only for handlers that wait on nothing but the test's events (not on a clock)."""
        with anyio.fail_after(WAIT):
            if self.calls:
                await self._settled.wait()
            while handlers and self.app.running:
                await anyio.wait_all_tasks_blocked()


@contextlib.asynccontextmanager
async def lifespan(app: Any, on: bool = True) -> AsyncIterator[None]:
    """Runs the app's lifespan (startup, then on exit shutdown, which waits for its handlers)
    when ``on``; without it the app runs each handler in its request's task."""
    if not on:
        yield
        return
    shutdown, started, stopped = anyio.Event(), anyio.Event(), anyio.Event()
    messages = [{"type": "lifespan.startup"}]

    async def receive() -> dict[str, str]:
        if messages:
            return messages.pop()
        await shutdown.wait()
        return {"type": "lifespan.shutdown"}

    async def send(msg: Any) -> None:
        {"lifespan.startup.complete": started, "lifespan.shutdown.complete": stopped}[msg["type"]].set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(app, {"type": "lifespan"}, receive, send)
        with anyio.fail_after(WAIT):
            await started.wait()
        try:
            yield
        finally:
            shutdown.set()
            with anyio.CancelScope(shield=True), anyio.fail_after(WAIT):
                await stopped.wait()


class WebhookWorker(Worker):
    """One ``_webhook_worker`` process serving ``webhook_app``; ``port`` once it listens."""

    def __init__(self, record: Path, *options: str, control: Control | None = None) -> None:
        reports = ("--control", str(control.port)) if control is not None else ()
        super().__init__(Path(__file__).with_name("_webhook_worker.py"), "--record", str(record), *options, *reports)
        self.port = int(self.address)
