"""One bot process of the state proofs: ``python _bot_worker.py <store> <backend> <text>``.

``<store>`` is ``sqlite:<path>`` or ``redis:<url>``; ``<backend>`` asyncio or trio. The process
builds the conversation router on that store, feeds it one message from user:1 in chat:C1 (as
a bot would after a restart) and prints what the bot answered, as one JSON line.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from okru_proto.bots import Router, parse_webhook


def make_store(spec: str) -> Any:
    kind, _, where = spec.partition(":")
    if kind == "sqlite":
        from okru_stores import SQLiteStore

        return SQLiteStore(where)
    from okru_stores import RedisStore

    return RedisStore(where, timeout=5.0)


def conversation(store: Any, said: list[str]) -> Router:
    router = Router(store=store)

    @router.message(command="start")
    async def start(state: Any) -> None:
        await state.set("name")
        said.append("Как вас зовут?")

    @router.message(state="name")
    async def name(event: Any, state: Any) -> None:
        await state.update_data(name=event.text)
        await state.set("city")
        said.append("Откуда вы?")

    @router.message(state="city")
    async def city(event: Any, state: Any) -> None:
        data = await state.get_data()
        await state.clear()
        said.append(f"{data['name']} из {event.text}")

    @router.message()
    async def idle() -> None:
        said.append("Напишите /start")

    return router


def main(spec: str, backend: str, text: str) -> None:
    import anyio

    said: list[str] = []
    router = conversation(make_store(spec), said)
    event = parse_webhook(json.dumps({"webhookType": "MESSAGE_CREATED", "sender": {"user_id": "user:1"},
                                      "recipient": {"chat_id": "chat:C1"},
                                      "message": {"text": text, "mid": f"mid:{text}"}}))
    anyio.run(router.feed, event, None, backend=backend)
    print(json.dumps({"said": said}, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
