#!/usr/bin/env python3
"""Client CPU per signed call: okru_httpx (sync and async) vs raw httpx with a hand-signed call.

Every scenario makes the same ``users.getInfo(uids='1,2,3', fields='name,age')`` call in the
server-server circuit against a keep-alive stub that runs in a subprocess on 127.0.0.1 (its own
CPU when there are two), and decodes the JSON reply, so only the client's work is measured:
``time.process_time()`` of this process over N calls, divided by N. Scenarios run interleaved,
``--reps`` times each, in one process; the table shows medians and each scenario's ratio to its
raw floor in the same rep (then the median over reps). Target: okru <= 1.05x its floor.

Floors (hand-written: sorted ``k=v`` join + md5 + urlencode, reply via ``response.json()``):

* ``raw_sync_get``  ``httpx.Client.get(fb.do?<signed query>)``       (the shared bench's floor)
* ``raw_sync_post`` ``httpx.Client.post(fb.do, content=<signed form>)`` (okru's default shape)
* ``raw_async_get`` / ``raw_async_post``: the same on ``httpx.AsyncClient`` under asyncio,
  sequential (``seq``) and with C concurrent tasks sharing the client (``conc``).

okru: ``ServerSession(..., client=<the same kind of client>, endpoints=Endpoints(api=stub))``
through ``API(session).users.getInfo(...)``, with ``http_method="GET"`` and the default POST.

    /work/venv/bin/python benchmarks/httpx_bench.py [-n 3000] [-c 20] [--reps 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from hashlib import md5
from typing import Any
from urllib.parse import urlencode

BODY = b'{"uid":"123","name":"Test"}'
APP_ID = "512000000000"
APP_KEY = "CBAFJIICABABABABA"
APP_SECRET = "0123456789ABCDEF0123456789ABCDEF"
TOKEN = "-s-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-_01234567"
METHOD = "users.getInfo"
PARAMS = {"uids": "1,2,3", "fields": "name,age"}


# -- the stub (subprocess) --------------------------------------------------------------------


def serve(port: int) -> None:
    """Keep-alive HTTP/1.1 stub: one canned JSON reply per request (GET or POST with a body)."""
    response = (
        b"HTTP/1.1 200 OK\r\nServer: okstub\r\nContent-Type: application/json;charset=utf-8\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
    )

    class Stub(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: Any = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            buffer = self.buffer + data
            replies = 0
            while True:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = buffer[:end].lower()
                at = head.find(b"content-length:")
                length = int(head[at + 15:].split(b"\r\n", 1)[0]) if at >= 0 else 0
                if len(buffer) < end + 4 + length:
                    break
                buffer = buffer[end + 4 + length:]
                replies += 1
            self.buffer = buffer
            if replies:
                self.transport.write(response * replies)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Stub, "127.0.0.1", port, backlog=512)
        print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# -- floors -----------------------------------------------------------------------------------

SECRET = md5((TOKEN + APP_SECRET).encode()).hexdigest()


def signed_pairs() -> dict[str, str]:
    params = {**PARAMS, "application_key": APP_KEY, "format": "json", "method": METHOD}
    text = "".join(f"{k}={params[k]}" for k in sorted(params))
    params["sig"] = md5((text + SECRET).encode()).hexdigest()
    params["access_token"] = TOKEN
    return params


def signed_query() -> str:
    return urlencode(signed_pairs())


def check(result: Any) -> None:
    if type(result) is not dict or result.get("uid") != "123":
        raise SystemExit(f"bad reply {result!r}")


# -- scenarios: each returns (setup-free) CPU seconds for n calls -------------------------------

FORM = {"content-type": "application/x-www-form-urlencoded"}


def sync_scenario(kind: str, base: str, n: int) -> float:
    import httpx

    import okru_httpx.sync
    from okru_proto import Endpoints

    url = base + "/fb.do"
    with httpx.Client() as client:
        if kind == "raw_sync_get":
            def call() -> Any:
                r = client.get(url + "?" + signed_query())
                r.raise_for_status()
                return r.json()
        elif kind == "raw_sync_post":
            def call() -> Any:
                r = client.post(url, content=signed_query().encode(), headers=FORM)
                r.raise_for_status()
                return r.json()
        else:
            session = okru_httpx.sync.ServerSession(
                APP_ID, APP_KEY, APP_SECRET, TOKEN, client=client, endpoints=Endpoints(api=base),
                http_method="GET" if kind.endswith("get") else "POST")
            method = okru_httpx.sync.API(session).users.getInfo

            def call() -> Any:
                return method(**PARAMS)
        for _ in range(max(100, n // 10)):
            check(call())
        started = time.process_time()
        for _ in range(n):
            check(call())
        return time.process_time() - started


async def _calls(call: Callable[[], Awaitable[Any]], n: int, c: int) -> None:
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            check(await call())

    if c <= 1:
        await worker()
    else:
        await asyncio.gather(*(worker() for _ in range(c)))


def async_scenario(kind: str, base: str, n: int, c: int) -> float:
    import httpx

    import okru_httpx
    from okru_proto import Endpoints

    url = base + "/fb.do"

    async def main() -> float:
        limits = httpx.Limits(max_connections=max(c, 1), max_keepalive_connections=max(c, 1))
        async with httpx.AsyncClient(limits=limits) as client:
            call: Callable[[], Awaitable[Any]]
            if kind == "raw_async_get":
                async def call() -> Any:
                    r = await client.get(url + "?" + signed_query())
                    r.raise_for_status()
                    return r.json()
            elif kind == "raw_async_post":
                async def call() -> Any:
                    r = await client.post(url, content=signed_query().encode(), headers=FORM)
                    r.raise_for_status()
                    return r.json()
            else:
                session = okru_httpx.ServerSession(
                    APP_ID, APP_KEY, APP_SECRET, TOKEN, client=client, endpoints=Endpoints(api=base),
                    http_method="GET" if kind.endswith("get") else "POST")
                method = okru_httpx.API(session).users.getInfo

                def call() -> Awaitable[Any]:
                    return method(**PARAMS)  # type: ignore[no-any-return]
            await _calls(call, max(100, n // 10), c)
            started = time.process_time()
            await _calls(call, n, c)
            return time.process_time() - started

    return asyncio.run(main())


SYNC = ["raw_sync_get", "okru_sync_get", "raw_sync_post", "okru_sync_post"]
ASYNC = ["raw_async_get", "okru_async_get", "raw_async_post", "okru_async_post"]


def floor_of(kind: str) -> str:
    return kind.replace("okru_", "raw_")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=3000, help="timed calls per scenario and rep")
    parser.add_argument("-c", type=int, default=20, help="concurrent tasks in mode conc")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="one JSON line per measurement too")
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return 0

    pin = hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2
    stub = subprocess.Popen(
        ([*(["taskset", "-c", "0"] if pin else []), sys.executable, __file__, "--serve", "0"]),
        stdout=subprocess.PIPE, text=True)
    try:
        assert stub.stdout is not None
        line = stub.stdout.readline().split()
        if not line or line[0] != "READY":
            raise SystemExit("stub did not start")
        base = f"http://127.0.0.1:{line[1]}"
        if pin:
            os.sched_setaffinity(0, {1})
        cases: list[tuple[str, str, Callable[[], float]]] = []
        for kind in SYNC:
            cases.append((kind, "seq", lambda k=kind: sync_scenario(k, base, args.n)))  # type: ignore[misc]
        for mode, c in (("seq", 1), ("conc", args.c)):
            for kind in ASYNC:
                cases.append((kind, mode, lambda k=kind, c=c: async_scenario(k, base, args.n, c)))  # type: ignore[misc]
        results: dict[tuple[str, str], list[float]] = {(k, m): [] for k, m, _ in cases}
        for rep in range(args.reps):
            for kind, mode, run in cases:
                us = run() / args.n * 1e6
                results[(kind, mode)].append(us)
                if args.json:
                    print(json.dumps({"scenario": kind, "mode": mode, "rep": rep, "cpu_us_per_call": round(us, 2)}))
    finally:
        stub.terminate()
        stub.wait()

    print(f"\nclient CPU per signed call, n={args.n}, c={args.c}, reps={args.reps}, "
          f"httpx {__import__('httpx').__version__}, Python {sys.version.split()[0]}"
          f"{', stub pinned to CPU 0, client to CPU 1' if pin else ''}\n")
    print("| scenario | mode | CPU µs/call (median) | min–max | ratio to raw floor (median of same-rep ratios) |")
    print("|---|---|---:|---:|---:|")
    for (kind, mode), values in results.items():
        ratio = "floor"
        if kind.startswith("okru_"):
            floor = results[(floor_of(kind), mode)]
            ratio = f"{statistics.median(v / f for v, f in zip(values, floor)):.3f}x"
        print(f"| {kind} | {mode} | {statistics.median(values):.1f} | {min(values):.1f}–{max(values):.1f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
