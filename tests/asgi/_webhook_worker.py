"""One webhook server process for the process tests: ``webhook_app`` under uvicorn, its handler
told what to do by the event's text, optionally sharing a once store with other processes.

    python _webhook_worker.py --record PATH [--control PORT] [--store sqlite:PATH | redis://...]
        [--answer at_once|after_handler] [--lifespan on|off] [--handler-timeout S|none]
        [--shutdown-timeout S] [--max-handlers N] [--slot-wait S]

Prints ``READY <port>`` once it listens; uvicorn stops gracefully on SIGTERM. The handler reads
the first word of a message's text:

* ``hang``: tells the test's control port ``started <pid> <mid>`` and never returns (the
  connection closes when the handler is cancelled);
* ``ask``: tells ``started <pid> <mid>`` and waits for the answer: ``go`` records the event,
  ``fail`` raises;
* anything else: records the event.

Recording appends ``<pid> <mid>`` to the record file (one short ``O_APPEND`` write per line, so
lines of several processes never mix).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", required=True)
    parser.add_argument("--control", type=int)
    parser.add_argument("--store")
    parser.add_argument("--answer", default="at_once")
    parser.add_argument("--lifespan", default="on")
    parser.add_argument("--handler-timeout", default="60")
    parser.add_argument("--shutdown-timeout", type=float, default=5.0)
    parser.add_argument("--max-handlers", type=int, default=64)
    parser.add_argument("--slot-wait", type=float, default=2.0)
    args = parser.parse_args()

    import anyio
    import uvicorn
    from anyio.streams.buffered import BufferedByteReceiveStream

    from okru_asgi import webhook_app
    from okru_proto.bots import MessageCreated

    store: Any = None
    if args.store:
        from okru_stores import RedisStore, SQLiteStore

        store = (SQLiteStore(args.store.removeprefix("sqlite:")) if args.store.startswith("sqlite:")
                 else RedisStore(args.store))
    pid = os.getpid()
    record = os.open(args.record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    async def handler(event: Any) -> None:
        assert isinstance(event, MessageCreated)
        mid = event.message.mid
        word = (event.text or "").split(" ", 1)[0]
        if word in ("hang", "ask"):
            async with await anyio.connect_tcp("127.0.0.1", args.control) as conn:
                await conn.send(f"started {pid} {mid}\n".encode())
                if word == "hang":
                    await anyio.sleep_forever()
                answer = await BufferedByteReceiveStream(conn).receive_until(b"\n", 100)
            if answer != b"go":
                raise RuntimeError(f"told {answer!r}")
        os.write(record, f"{pid} {mid}\n".encode())

    app = webhook_app(handler, allowed_networks=None, store=store, answer=args.answer,
                      handler_timeout=None if args.handler_timeout == "none" else float(args.handler_timeout),
                      shutdown_timeout=args.shutdown_timeout, max_handlers=args.max_handlers,
                      slot_wait=args.slot_wait)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    print(f"READY {sock.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False,
                                  lifespan=args.lifespan, http="h11")).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
