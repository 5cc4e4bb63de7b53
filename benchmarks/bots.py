#!/usr/bin/env python3
"""The Bot API's costs: webhook parse+dispatch, router dispatch, long polling, webhook_app under
uvicorn and its shutdown, send-path client CPU.

    python benchmarks/bots.py [--quick] [--reps 3] [-n 3000] [--only parse,router,polling,uvicorn,shutdown,send]

* ``parse``: one webhook event (a v2 MESSAGE_CREATED body) parsed and dispatched to a handler
  by type: ``parse_webhook`` + a dict of handlers by event class, next to the hand-written floor
  ``json.loads`` + a dict of handlers by ``webhookType``. In-process loops, interleaved reps.
* ``router``: ``router.feed(event, bot)`` with 100 ``@router.message(command=...)`` handlers over
  parsed events picking commands at random (1 in 10 matching none), next to a hand-written
  dispatch: a dict of handlers by command behind an ``if`` on the event's class. In-process,
  one asyncio loop, interleaved reps; CPU per event.
* ``polling``: client CPU per long poll (``bot.updates()`` yielding one event per reply) on each
  adapter against a keep-alive stub answering ``{"updates": [one event], "marker": n}``, next to a
  raw loop on the same transport: the GET with ``timeout``/``marker``/``access_token``, status
  check, ``json.loads``, error check, the events and the marker.
* ``uvicorn``: ``webhook_app`` with a no-op handler under uvicorn (asyncio, h11, one worker, a
  subprocess), next to a bare ASGI app (read the body, ``json.loads``, answer 200) under the same
  server. The load generator (``load``) keeps 8 keep-alive connections busy, one request in
  flight on each, with distinct events built beforehand; it reports requests/s, and the server
  process's CPU time per request (from /proc: steadier than throughput on a shared machine).
* ``shutdown``: a uvicorn process with 64 handlers that never return gets SIGTERM: seconds to
  exit (``shutdown_timeout=5`` by default).
* ``send``: client CPU (``time.process_time``) per ``bot.send(chat_id, "Привет")`` on each
  adapter, sequential, against a keep-alive stub in a subprocess that answers
  ``{"success":true,"message_id":"mid:1"}``; next to the floor of the same transport: the same
  request by hand (``json.dumps`` body, token in the query, status check, ``json.loads``,
  error check) on ``httpx.Client`` / ``httpx.AsyncClient`` (asyncio), and for okru_trio on its
  own ``H11Transport`` (the hand-built ``Request`` sent with ``transport.send``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

TOKEN = "tkn18YdUJZe:CQABPOJKAKEKEKEKE"
CHAT = "chat:C3ecb9d02a600"
REPLY = b'{"success":true,"message_id":"mid:C3ecb9d02a600.1"}'
EVENT = json.dumps({"webhookType": "MESSAGE_CREATED", "sender": {"name": "Василий Васильев", "user_id": "user:123456789012"},
                    "recipient": {"chat_id": CHAT},
                    "message": {"text": "text", "seq": 98211023614189660, "mid": "mid:C3ecb9d02a600.15cea67d78d2059"},
                    "timestamp": 1498581292941}, ensure_ascii=False).encode()


# -- parse + dispatch ------------------------------------------------------------------------------

def parse_cases() -> dict[str, Callable[[], object]]:
    from okru_proto.bots import CallbackPressed, ChatSystemEvent, MessageCreated, UnknownEvent, parse_webhook

    seen: list[object] = []
    on = seen.append
    by_type: dict[Any, Callable[[Any], object]] = {"MESSAGE_CREATED": on, "MESSAGE_CALLBACK": on, "CHAT_SYSTEM": on}
    by_class: dict[Any, Callable[[Any], object]] = {MessageCreated: on, CallbackPressed: on, ChatSystemEvent: on,
                                                    UnknownEvent: on}
    loads = json.loads

    def floor() -> object:
        data = loads(EVENT)
        if type(data) is not dict:
            raise ValueError
        return by_type[data.get("webhookType")](data)

    def okru() -> object:
        event = parse_webhook(EVENT)
        return by_class[type(event)](event)

    def floor_fields() -> object:
        data = loads(EVENT)
        if type(data) is not dict:
            raise ValueError
        on((data["recipient"]["chat_id"], data["message"]["text"]))
        return by_type[data.get("webhookType")](data)

    def okru_fields() -> object:
        event = parse_webhook(EVENT)
        on((event.chat_id, event.text))  # type: ignore[union-attr]
        return by_class[type(event)](event)

    def clear() -> None:
        seen.clear()

    return {"floor": floor, "okru": okru, "floor_fields": floor_fields, "okru_fields": okru_fields,
            "_clear": clear}


def bench_parse(reps: int, n: int, fields: bool = False) -> list[float]:
    cases = parse_cases()
    ratios = []
    suffix = "_fields" if fields else ""
    for _ in range(reps):
        times = {}
        for name in ("floor" + suffix, "okru" + suffix):
            fn = cases[name]
            for _ in range(n // 10):
                fn()
            cases["_clear"]()
            gc.collect()
            start = time.process_time()
            for _ in range(n):
                fn()
            times[name] = (time.process_time() - start) / n
            cases["_clear"]()
        floor, okru = times["floor" + suffix], times["okru" + suffix]
        ratios.append(okru / floor)
        print(f"  parse+dispatch{' + chat_id/text' if fields else ''}: floor {floor * 1e6:.2f} µs, "
              f"okru {okru * 1e6:.2f} µs, ratio {ratios[-1]:.2f}x", flush=True)
    return ratios


# -- router.feed -------------------------------------------------------------------------------------

def router_cases(handlers: int = 100, events: int = 1000) -> dict[str, Any]:
    """``router.feed`` over ``handlers`` command handlers, next to the hand-written floor: a dict of
    handlers by command and an ``if`` on the event's class. Each handler is an ``async def``
    taking ``(event, bot)``; the events (already parsed) pick commands at random, 1 in 10 matching
    none (the floor then answers False too)."""
    import random

    from okru_proto.bots import MessageCreated, Router, parse_webhook

    rng = random.Random(7)
    router = Router()
    table: dict[str, Any] = {}
    hits = [0]

    def make(i: int) -> Any:
        async def handler(event: Any, bot: Any) -> None:
            hits[0] += 1
        return handler

    for i in range(handlers):
        function = make(i)
        router.message(command=f"cmd{i}")(function)
        table[f"cmd{i}"] = function
    parsed = []
    for n in range(events):
        command = f"cmd{rng.randrange(handlers)}" if n % 10 else "nothing"
        body = EVENT.replace(b'"text": "text"', b'"text": "/%s args"' % command.encode())
        parsed.append(parse_webhook(body))

    async def floor(event: Any, bot: Any) -> bool:
        if type(event) is MessageCreated:
            text = event.text
            if text and text[0] == "/":
                handler = table.get(text.split(None, 1)[0][1:])
                if handler is not None:
                    await handler(event, bot)
                    return True
        return False

    return {"router": router.feed, "floor": floor, "events": parsed, "hits": hits}


def bench_router(reps: int, n: int) -> list[float]:
    cases = router_cases()
    events = cases["events"]

    async def run(feed: Any) -> float:
        for event in events[:200]:
            await feed(event, None)
        gc.collect()
        start = time.process_time()
        for _ in range(max(1, n // len(events))):
            for event in events:
                await feed(event, None)
        return (time.process_time() - start) / (max(1, n // len(events)) * len(events))

    ratios = []
    for _ in range(reps):
        floor = asyncio.run(run(cases["floor"]))
        okru = asyncio.run(run(cases["router"]))
        ratios.append(okru / floor)
        print(f"  router.feed, 100 handlers: floor {floor * 1e6:.2f} µs, okru {okru * 1e6:.2f} µs, "
              f"ratio {ratios[-1]:.2f}x", flush=True)
    return ratios


# -- long polling ------------------------------------------------------------------------------------

def poll_stub() -> None:
    """Keep-alive stub for the polling loops: each GET gets ``{"updates": [one MESSAGE_CREATED
    with a new mid], "marker": "<n>"}``, as a busy chat's long poll would (one event per poll)."""
    head, tail = EVENT.decode().split("mid:C3ecb9d02a600.15cea67d78d2059")

    class Stub(asyncio.Protocol):
        count = 0

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: Any = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
                self.buffer = self.buffer[end + 4:]  # GETs: no body
                Stub.count += 1
                event = f"{head}mid:C3ecb9d02a600.{Stub.count}{tail}"
                body = f'{{"updates":[{event}],"marker":"{Stub.count}"}}'.encode()
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=utf-8\r\n"
                                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Stub, "127.0.0.1", 0)
        print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def raw_poll_check(status: int, body: bytes) -> tuple[list[Any], str | None]:
    """The floor's reading of a poll: status, JSON, error check, the events and the marker."""
    if status != 200:
        raise SystemExit(f"status {status}")
    value = json.loads(body)
    if "error_code" in value:
        raise SystemExit("error")
    return value["updates"], value.get("marker")


def poll_httpx_sync(impl: str, base: str, n: int) -> float:
    import httpx

    from okru_httpx.sync import BotSession
    from okru_proto import Endpoints

    url = f"{base}/graph/me/updates"
    with httpx.Client() as client:
        if impl == "raw":
            marker: list[Any] = [None]

            def poll() -> object:
                params = {"timeout": 20, "access_token": TOKEN}
                if marker[0] is not None:
                    params["marker"] = marker[0]
                events, marker[0] = raw_poll_check(*(lambda r: (r.status_code, r.content))(
                    client.get(url, params=params)))
                return events
            return timed(n, poll)
        bot = BotSession(TOKEN, client=client, endpoints=Endpoints(api=base))
        events = bot.updates(timeout=20)
        return timed(n, lambda: next(events))


def poll_httpx_async(impl: str, base: str, n: int) -> float:
    import httpx

    from okru_httpx import BotSession
    from okru_proto import Endpoints

    url = f"{base}/graph/me/updates"

    async def main() -> float:
        async with httpx.AsyncClient() as client:
            if impl == "raw":
                marker: list[Any] = [None]

                async def poll() -> object:
                    params = {"timeout": 20, "access_token": TOKEN}
                    if marker[0] is not None:
                        params["marker"] = marker[0]
                    r = await client.get(url, params=params)
                    events, marker[0] = raw_poll_check(r.status_code, r.content)
                    return events
                return await timed_async(n, poll)
            bot = BotSession(TOKEN, client=client, endpoints=Endpoints(api=base))
            events = bot.updates(timeout=20)
            return await timed_async(n, events.__anext__)

    return asyncio.run(main())


def poll_trio(impl: str, base: str, n: int) -> float:
    import trio

    from okru_proto import Endpoints
    from okru_proto.adapter import Request
    from okru_trio import BotSession, H11Transport

    async def main() -> float:
        if impl == "raw":
            transport = H11Transport(max_connections_per_origin=1)
            marker: list[Any] = [None]

            async def poll() -> object:
                query = f"timeout=20&access_token={TOKEN}"
                if marker[0] is not None:
                    query = f"marker={marker[0]}&{query}"
                r = await transport.send(Request("GET", f"{base}/graph/me/updates?{query}"))
                events, marker[0] = raw_poll_check(r.status, r.body)
                return events
            try:
                return await timed_async(n, poll)
            finally:
                await transport.aclose()
        async with BotSession(TOKEN, endpoints=Endpoints(api=base), max_connections=1) as bot:
            events = bot.updates(timeout=20)
            return await timed_async(n, events.__anext__)

    result: float = trio.run(main)
    return result


POLLERS = {"httpx_sync": poll_httpx_sync, "httpx_async": poll_httpx_async, "okru_trio": poll_trio}


def bench_polling(reps: int, n: int) -> dict[str, list[tuple[float, float]]]:
    stub = subprocess.Popen([sys.executable, __file__, "--poll-stub"], stdout=subprocess.PIPE, text=True)
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in POLLERS}
    try:
        assert stub.stdout is not None
        base = f"http://127.0.0.1:{int(stub.stdout.readline().split()[1])}"
        for _ in range(reps):
            for which in POLLERS:
                cpu = {}
                for impl in ("raw", "okru"):
                    out = subprocess.run([sys.executable, __file__, "--poll-child", which, impl, base, str(n)],
                                         capture_output=True, text=True, check=True).stdout
                    cpu[impl] = json.loads(out.strip().splitlines()[-1])["cpu"]
                results[which].append((cpu["raw"], cpu["okru"]))
                print(f"  long poll {which}: floor {cpu['raw'] * 1e6:.1f} µs, okru {cpu['okru'] * 1e6:.1f} µs, "
                      f"ratio {cpu['okru'] / cpu['raw']:.3f}x", flush=True)
    finally:
        stub.terminate()
        stub.wait(30)
    return results


# -- webhook_app under uvicorn -----------------------------------------------------------------------

async def bare_app(scope: Any, receive: Any, send: Any) -> None:
    """The floor under uvicorn: read the body, ``json.loads`` it, answer 200 (no checks, no task)."""
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    json.loads(body)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


def uvicorn_server(kind: str) -> None:
    import socket

    import anyio
    import uvicorn

    from okru_asgi import webhook_app

    async def noop(event: Any) -> None:
        return None

    async def hang(event: Any) -> None:
        await anyio.sleep_forever()

    if kind == "hung":  # every handler hangs; the app's defaults (shutdown_timeout=5)
        app: Any = webhook_app(hang, allowed_networks=["127.0.0.0/8"])
    else:
        app = webhook_app(noop, allowed_networks=["127.0.0.0/8"]) if kind == "okru" else bare_app
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    print(f"READY {sock.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, http="h11", lifespan="on",
                                  proxy_headers=False)).run(sockets=[sock])


def requests_for(tag: str, count: int) -> list[bytes]:
    """``count`` POSTs of distinct events (each its own ``mid``: none is a repeat), ready to send."""
    out = []
    for i in range(count):
        body = EVENT.replace(b"15cea67d78d2059", f"{tag}.{i}".encode())
        out.append(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    return out


def load(port: int, requests: list[bytes], connections: int, deadline: float = 120.0) -> float:
    """The load generator: ``connections`` keep-alive connections, one request in flight on
    each, until every request in ``requests`` was answered 200; the seconds it took. Bounded:
    a fixed number of requests and connections, replies read into a capped buffer, an overall
    deadline. Cheap per request (bytes built beforehand, a minimal reply parser), so the
    server, not the client, is what is measured."""
    import selectors
    import socket

    pending = list(reversed(requests))
    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytearray] = {}
    for _ in range(min(connections, len(requests))):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffers[sock] = bytearray()
        sock.sendall(pending.pop())
        selector.register(sock, selectors.EVENT_READ)
    answered, total = 0, len(requests)
    start = time.perf_counter()
    try:
        while answered < total:
            if time.perf_counter() - start > deadline:
                raise SystemExit(f"the load generator's deadline passed ({answered}/{total} answered)")
            for key, _ in selector.select(timeout=1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                data = sock.recv(65536)
                if not data:
                    raise SystemExit("the server closed a connection")
                buffer = buffers[sock]
                buffer += data
                if len(buffer) > 1 << 20:
                    raise SystemExit("a reply too large for this benchmark")
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    continue
                head = bytes(buffer[:end]).lower()
                if not head.startswith(b"http/1.1 200"):
                    raise SystemExit(f"status {bytes(buffer[:12])!r}")
                length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
                if len(buffer) < end + 4 + length:
                    continue
                del buffer[:end + 4 + length]
                answered += 1
                if pending:
                    sock.sendall(pending.pop())
    finally:
        for sock in buffers:
            selector.unregister(sock)
            sock.close()
    return time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process used so far, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_uvicorn(total: int, kind: str, connections: int = 8, rep: int = 0) -> tuple[float, float]:
    """(requests/s, server CPU seconds per request) for ``kind`` under uvicorn."""
    proc = subprocess.Popen([sys.executable, __file__, "--uvicorn-server", kind], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().split()[1])
        load(port, requests_for(f"w{rep}", max(500, total // 5)), connections)  # warm-up
        work = requests_for(f"r{rep}", total)
        cpu = cpu_seconds(proc.pid)
        elapsed = load(port, work, connections)
        cpu = cpu_seconds(proc.pid) - cpu
    finally:
        proc.terminate()
        proc.wait(30)
    rate = total / elapsed
    print(f"  {'webhook_app' if kind == 'okru' else 'bare ASGI app'} under uvicorn: {rate:.0f} requests/s, "
          f"server CPU {cpu / total * 1e6:.0f} µs/request ({connections} connections, keep-alive)", flush=True)
    return rate, cpu / total


def bench_shutdown() -> float:
    """Seconds from SIGTERM to exit for a uvicorn process whose 64 handler slots all hold a
    handler that never returns (issue 20: it used not to exit)."""
    import signal

    proc = subprocess.Popen([sys.executable, __file__, "--uvicorn-server", "hung"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().split()[1])
        load(port, requests_for("hung", 64), 8)  # each answered 200 at once; its handler hangs
        start = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        took = time.perf_counter() - start
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.stderr is not None
    said = [line.strip() for line in proc.stderr if "shutting down" in line]
    print(f"  64 hung handlers: exited {took:.2f} s after SIGTERM ({said[0] if said else 'no shutdown line'})",
          flush=True)
    return took


# -- send path ---------------------------------------------------------------------------------------

def stub_server() -> None:
    # The same keep-alive stub as the main benchmark's, answering every request with REPLY.
    from run import serve

    serve(0, REPLY)


def floor_body() -> bytes:
    return json.dumps({"recipient": {"chat_id": CHAT}, "message": {"text": "Привет"}}, ensure_ascii=False,
                      separators=(",", ":")).encode()


def floor_check(status: int, body: bytes) -> Any:
    if status != 200:
        raise SystemExit(f"status {status}")
    value = json.loads(body)
    if "error_code" in value:
        raise SystemExit("error")
    return value


def timed(n: int, call: Callable[[], object]) -> float:
    for _ in range(max(100, n // 10)):
        call()
    gc.collect()
    start = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - start) / n


async def timed_async(n: int, call: Callable[[], Any]) -> float:
    for _ in range(max(100, n // 10)):
        await call()
    gc.collect()
    start = time.process_time()
    for _ in range(n):
        await call()
    return (time.process_time() - start) / n


def send_httpx_sync(impl: str, base: str, n: int) -> float:
    import httpx

    from okru_httpx.sync import BotSession
    from okru_proto import Endpoints

    url = f"{base}/graph/{CHAT}/messages"
    with httpx.Client() as client:
        if impl == "raw":
            def call() -> object:
                r = client.post(url, params={"access_token": TOKEN}, content=floor_body(),
                                headers={"content-type": "application/json;charset=utf-8"})
                return floor_check(r.status_code, r.content)
            return timed(n, call)
        bot = BotSession(TOKEN, client=client, endpoints=Endpoints(api=base))
        return timed(n, lambda: bot.send(CHAT, "Привет"))


def send_httpx_async(impl: str, base: str, n: int) -> float:
    import httpx

    from okru_httpx import BotSession
    from okru_proto import Endpoints

    url = f"{base}/graph/{CHAT}/messages"

    async def main() -> float:
        async with httpx.AsyncClient() as client:
            if impl == "raw":
                async def call() -> object:
                    r = await client.post(url, params={"access_token": TOKEN}, content=floor_body(),
                                          headers={"content-type": "application/json;charset=utf-8"})
                    return floor_check(r.status_code, r.content)
                return await timed_async(n, call)
            bot = BotSession(TOKEN, client=client, endpoints=Endpoints(api=base))
            return await timed_async(n, lambda: bot.send(CHAT, "Привет"))

    return asyncio.run(main())


def send_trio(impl: str, base: str, n: int) -> float:
    import trio

    from okru_proto import Endpoints
    from okru_proto.adapter import Request
    from okru_trio import BotSession, H11Transport

    url = f"{base}/graph/{CHAT}/messages?access_token={TOKEN}"

    async def main() -> float:
        if impl == "raw":
            transport = H11Transport(max_connections_per_origin=1)

            async def call() -> object:
                r = await transport.send(Request("POST", url, (("content-type", "application/json;charset=utf-8"),),
                                                 floor_body()))
                return floor_check(r.status, r.body)
            try:
                return await timed_async(n, call)
            finally:
                await transport.aclose()
        async with BotSession(TOKEN, endpoints=Endpoints(api=base), max_connections=1) as bot:
            return await timed_async(n, lambda: bot.send(CHAT, "Привет"))

    result: float = trio.run(main)
    return result


SENDERS = {"httpx_sync": send_httpx_sync, "httpx_async": send_httpx_async, "okru_trio": send_trio}


def child(which: str, impl: str, base: str, n: int) -> None:
    print(json.dumps({"cpu": SENDERS[which](impl, base, n)}), flush=True)


def bench_send(reps: int, n: int) -> dict[str, list[tuple[float, float]]]:
    stub = subprocess.Popen([sys.executable, __file__, "--stub"], stdout=subprocess.PIPE, text=True)
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in SENDERS}
    try:
        assert stub.stdout is not None
        base = f"http://127.0.0.1:{int(stub.stdout.readline().split()[1])}"
        for _ in range(reps):
            for which in SENDERS:
                cpu = {}
                for impl in ("raw", "okru"):
                    out = subprocess.run([sys.executable, __file__, "--child", which, impl, base, str(n)],
                                         capture_output=True, text=True, check=True).stdout
                    cpu[impl] = json.loads(out.strip().splitlines()[-1])["cpu"]
                results[which].append((cpu["raw"], cpu["okru"]))
                print(f"  send {which}: floor {cpu['raw'] * 1e6:.1f} µs, okru {cpu['okru'] * 1e6:.1f} µs, "
                      f"ratio {cpu['okru'] / cpu['raw']:.3f}x", flush=True)
    finally:
        stub.terminate()
        stub.wait(30)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("--only", default="parse,router,polling,uvicorn,shutdown,send")
    parser.add_argument("--stub", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--uvicorn-server", choices=("bare", "okru", "hung"), help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--poll-stub", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--poll-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.poll_stub:
        poll_stub()
        return 0
    if args.poll_child:
        which, impl, base, count = args.poll_child
        print(json.dumps({"cpu": POLLERS[which](impl, base, int(count))}), flush=True)
        return 0
    if args.stub:
        stub_server()
        return 0
    if args.uvicorn_server:
        uvicorn_server(args.uvicorn_server)
        return 0
    if args.child:
        which, impl, base, n = args.child
        child(which, impl, base, int(n))
        return 0
    n = 500 if args.quick else args.n
    reps = 1 if args.quick else args.reps
    only = set(args.only.split(","))
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, n={n}, reps={reps}")
    if "parse" in only:
        ratios = bench_parse(reps, n * 10)
        print(f"parse+dispatch okru/floor: median {statistics.median(ratios):.2f}x")
        ratios = bench_parse(reps, n * 10, fields=True)
        print(f"parse+dispatch reading chat_id and text, okru/floor: median {statistics.median(ratios):.2f}x")
    if "router" in only:
        ratios = bench_router(reps, n * 30)
        print(f"router.feed (100 handlers) okru/floor: median {statistics.median(ratios):.2f}x")
    if "polling" in only:
        for which, pairs in bench_polling(reps, n).items():
            ratio = statistics.median(o / r for r, o in pairs)
            print(f"long poll {which}: floor {statistics.median(r for r, _ in pairs) * 1e6:.1f} µs, "
                  f"okru {statistics.median(o for _, o in pairs) * 1e6:.1f} µs CPU/poll, median ratio {ratio:.3f}x")
    if "uvicorn" in only:
        runs = [(bench_uvicorn(n * 4, "bare", rep=r), bench_uvicorn(n * 4, "okru", rep=r)) for r in range(reps)]
        print(f"under uvicorn: bare ASGI app median {statistics.median(b[0] for b, _ in runs):.0f} requests/s "
              f"({statistics.median(b[1] for b, _ in runs) * 1e6:.0f} µs CPU each), webhook_app median "
              f"{statistics.median(o[0] for _, o in runs):.0f} requests/s "
              f"({statistics.median(o[1] for _, o in runs) * 1e6:.0f} µs CPU each); webhook_app/bare: "
              f"throughput {statistics.median(o[0] / b[0] for b, o in runs):.2f}x, "
              f"CPU per request {statistics.median(o[1] / b[1] for b, o in runs):.2f}x")
    if "shutdown" in only:
        took = [bench_shutdown() for _ in range(reps)]
        print(f"shutdown with 64 hung handlers (shutdown_timeout=5): median {statistics.median(took):.2f} s")
    if "send" in only:
        for which, pairs in bench_send(reps, n).items():
            ratio = statistics.median(o / r for r, o in pairs)
            print(f"send {which}: floor {statistics.median(r for r, _ in pairs) * 1e6:.1f} µs, "
                  f"okru {statistics.median(o for _, o in pairs) * 1e6:.1f} µs CPU/message, median ratio {ratio:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
