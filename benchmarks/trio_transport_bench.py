#!/usr/bin/env python3
"""Client CPU per call: okru_trio's H11Transport vs a hand-written raw h11-over-trio client.

Both clients make the same signed OK.ru call (``GET /fb.do?...&sig=...&access_token=...``,
signed by hand with md5 + urlencode, reply decoded with json.loads) against a keep-alive stub
running in a subprocess on 127.0.0.1, so only the client's work is measured
(``time.process_time`` of this process). Scenarios run interleaved, ``--reps`` times each, in
one process; the table shows medians and the ratios the issue sets targets for:

* transport / raw, sequential and 20 concurrent: target <= 1.10
* transport with 1000 calls in flight (over a pool of 20) / transport at 20: target <= 1.20
* bounded memory with 1000 in flight: tracemalloc peak, for N and 2N calls (must not grow with N)

On a shared machine the socket numbers are noisy (kernel time, the stub's CPU). A second table
removes the kernel: both clients talk to an in-memory stream that answers at once (each call
still yields to trio twice), timed with the garbage collector off, minimum of the repetitions.
It splits the difference into the transport's own cost and the cost of building the
``okru_proto.Request`` value (the core's constructor validates the headers each time).

    /work/venv/bin/python benchmarks/trio_transport_bench.py [-n 3000] [--reps 5]
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
import tracemalloc
from collections.abc import Awaitable, Callable
from hashlib import md5
from urllib.parse import urlencode

BODY = b'{"uid":"123","name":"Test"}'
APP_KEY = "CBAFJIICABABABABA"
TOKEN = "-s-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-_01234567"
SECRET = md5((TOKEN + "0123456789ABCDEF0123456789ABCDEF").encode()).hexdigest()
PARAMS = {"uids": "1,2,3", "fields": "name,age"}


# -- the stub (subprocess) -------------------------------------------------------------------


def serve(port: int) -> None:
    """A keep-alive stub as cheap as asyncio gets: one canned reply per request head."""
    response = (
        b"HTTP/1.1 200 OK\r\nServer: okstub\r\nContent-Type: application/json;charset=utf-8\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
    )

    class Stub(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            # GET requests only (no bodies): every blank line ends one request.
            self.buffer += data
            count = self.buffer.count(b"\r\n\r\n")
            if count:
                self.buffer = self.buffer[self.buffer.rfind(b"\r\n\r\n") + 4 :]
                self.transport.write(response * count)  # type: ignore[attr-defined]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Stub, "127.0.0.1", port, backlog=2048)
        print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the two clients ---------------------------------------------------------------------------


def signed_query() -> str:
    p = dict(PARAMS)
    p["method"] = "users.getInfo"
    p["application_key"] = APP_KEY
    p["format"] = "json"
    p["sig"] = md5(("".join([f"{k}={p[k]}" for k in sorted(p)]) + SECRET).encode()).hexdigest()
    p["access_token"] = TOKEN
    return urlencode(p)


def check(payload: object) -> None:
    if not isinstance(payload, dict) or payload.get("uid") != "123":
        raise RuntimeError(f"bad reply {payload!r}")


async def run_workers(call: Callable[[int], Awaitable[None]], total: int, workers: int) -> None:
    import trio

    remaining = total

    async def worker(index: int) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call(index)

    if workers == 1:
        await worker(0)
        return
    async with trio.open_nursery() as nursery:
        for i in range(workers):
            nursery.start_soon(worker, i)


def raw_h11(port: int, n: int, concurrency: int) -> float:
    """trio TCP stream + h11, one keep-alive connection per worker: the floor."""
    import h11
    import trio

    path = b"/fb.do?"
    # The same header set the transport sends (clients.py's raw_h11_trio sends these three too).
    headers = [(b"Host", b"127.0.0.1:%d" % port), (b"User-Agent", b"okru/0.1"), (b"Accept", b"application/json")]
    NEED_DATA, Response, Data, EndOfMessage = h11.NEED_DATA, h11.Response, h11.Data, h11.EndOfMessage
    elapsed = 0.0

    async def main() -> None:
        nonlocal elapsed
        conns = [
            (await trio.open_tcp_stream("127.0.0.1", port), h11.Connection(h11.CLIENT))
            for _ in range(concurrency)
        ]

        async def one_call(index: int) -> None:
            stream, conn = conns[index]
            target = path + signed_query().encode()
            await stream.send_all(
                conn.send(h11.Request(method=b"GET", target=target, headers=headers))  # type: ignore[operator]
                + conn.send(EndOfMessage())
            )
            chunks = []
            status = 0
            while True:
                ev = conn.next_event()
                if ev is NEED_DATA:
                    conn.receive_data(await stream.receive_some(65536))
                    continue
                t = type(ev)
                if t is Data:
                    chunks.append(ev.data)  # type: ignore[union-attr]
                elif t is Response:
                    status = ev.status_code  # type: ignore[union-attr]
                elif t is EndOfMessage:
                    break
                else:
                    raise RuntimeError(f"unexpected h11 event {ev!r}")
            conn.start_next_cycle()
            if status != 200:
                raise RuntimeError(f"HTTP {status}")
            check(json.loads(b"".join(chunks)))

        try:
            await run_workers(one_call, max(100, n // 10), concurrency)
            start = time.process_time()
            await run_workers(one_call, n, concurrency)
            elapsed = time.process_time() - start
        finally:
            for stream, _ in conns:
                await stream.aclose()

    trio.run(main)
    return elapsed


def transport(port: int, n: int, concurrency: int, pool: int, *, trace: bool = False) -> float:
    """okru_trio's H11Transport: the same request as an okru_proto.Request, ``concurrency`` tasks
    sharing a pool of at most ``pool`` connections."""
    import trio

    from okru_proto import Request
    from okru_trio._transport import H11Transport

    base = f"http://127.0.0.1:{port}/fb.do?"
    headers = (("accept", "application/json"),)
    elapsed = 0.0

    async def main() -> None:
        nonlocal elapsed
        async with H11Transport(max_connections_per_origin=pool) as t:
            send = t.send

            async def one_call(index: int) -> None:
                response = await send(Request("GET", base + signed_query(), headers))
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")
                check(json.loads(response.body))

            await run_workers(one_call, max(100, n // 10), concurrency)
            if trace:
                tracemalloc.start()
            start = time.process_time()
            await run_workers(one_call, n, concurrency)
            elapsed = time.process_time() - start

    trio.run(main)
    return elapsed


def peak_memory(port: int, n: int, concurrency: int, pool: int) -> int:
    tracemalloc.stop()
    transport(port, n, concurrency, pool, trace=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


# -- no-kernel breakdown --------------------------------------------------------------------------


def breakdown(n: int, reps: int) -> dict[str, float]:
    import gc

    import h11
    import trio

    from okru_proto import Request
    from okru_trio._transport import H11Transport

    reply = (
        b"HTTP/1.1 200 OK\r\nServer: okstub\r\nContent-Type: application/json;charset=utf-8\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
    )

    class Instant(trio.abc.Stream):
        async def send_all(self, data: bytes | bytearray | memoryview) -> None:
            await trio.lowlevel.checkpoint()

        async def wait_send_all_might_not_block(self) -> None:  # pragma: no cover
            await trio.lowlevel.checkpoint()

        async def receive_some(self, max_bytes: int | None = None) -> bytes:
            await trio.lowlevel.checkpoint()
            return reply

        async def aclose(self) -> None:
            await trio.lowlevel.checkpoint()

    url = "http://127.0.0.1:1/fb.do?" + signed_query()
    target = url[len("http://127.0.0.1:1") :].encode()
    headers = (("accept", "application/json"),)

    async def raw() -> float:
        raw_headers = [(b"Host", b"127.0.0.1:1"), (b"User-Agent", b"okru/0.1"), (b"Accept", b"application/json")]
        stream, conn = Instant(), h11.Connection(h11.CLIENT)
        start = time.perf_counter()
        for _ in range(n):
            await stream.send_all(
                conn.send(h11.Request(method=b"GET", target=target, headers=raw_headers))  # type: ignore[operator]
                + conn.send(h11.EndOfMessage())
            )
            chunks = []
            while True:
                ev = conn.next_event()
                if ev is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(65536))
                elif type(ev) is h11.Data:
                    chunks.append(ev.data)
                elif type(ev) is h11.EndOfMessage:
                    break
            conn.start_next_cycle()
            b"".join(chunks)
        return time.perf_counter() - start

    async def transport(prebuilt: bool) -> float:
        async def factory(host: str, port: int, use_tls: bool) -> trio.abc.Stream:
            return Instant()

        async with H11Transport(stream_factory=factory) as t:
            request = Request("GET", url, headers)
            await t.send(request)
            start = time.perf_counter()
            if prebuilt:
                for _ in range(n):
                    await t.send(request)
            else:
                for _ in range(n):
                    await t.send(Request("GET", url, headers))
            return time.perf_counter() - start

    runs: dict[str, list[float]] = {"raw": [], "prebuilt": [], "built": []}
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(reps):
            runs["raw"].append(trio.run(raw))
            runs["prebuilt"].append(trio.run(transport, True))
            runs["built"].append(trio.run(transport, False))
    finally:
        if enabled:
            gc.enable()
    return {name: min(values) / n * 1e6 for name, values in runs.items()}


# -- driver ------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=3000, help="measured calls per scenario (default 3000)")
    ap.add_argument("--reps", type=int, default=5, help="interleaved repetitions (default 5)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin the stub to CPU 0 and this process to CPU 1")
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve is not None:
        serve(a.serve)
        return

    pin = not a.no_pin and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2
    stub = subprocess.Popen(
        [sys.executable, __file__, "--serve", "0"],
        stdout=subprocess.PIPE,
        preexec_fn=(lambda: os.sched_setaffinity(0, {0})) if pin else None,
    )
    try:
        assert stub.stdout is not None
        line = stub.stdout.readline().decode()
        if not line.startswith("READY"):
            raise SystemExit(f"stub failed to start: {line!r}")
        port = int(line.split()[1])
        if pin:
            os.sched_setaffinity(0, {1})

        n = a.n
        scenarios: dict[str, Callable[[], float]] = {
            "raw h11 seq": lambda: raw_h11(port, n, 1),
            "transport seq": lambda: transport(port, n, 1, 1),
            "raw h11 c=20": lambda: raw_h11(port, n, 20),
            "transport c=20": lambda: transport(port, n, 20, 20),
            "transport 1000 in flight (pool 20)": lambda: transport(port, n, 1000, 20),
        }
        results: dict[str, list[float]] = {name: [] for name in scenarios}
        ratios: dict[str, list[float]] = {"seq": [], "c=20": [], "1000/20": []}
        for _ in range(a.reps):
            rep: dict[str, float] = {}
            for name, run in scenarios.items():
                rep[name] = run() / n * 1e6
                results[name].append(rep[name])
            ratios["seq"].append(rep["transport seq"] / rep["raw h11 seq"])
            ratios["c=20"].append(rep["transport c=20"] / rep["raw h11 c=20"])
            ratios["1000/20"].append(rep["transport 1000 in flight (pool 20)"] / rep["transport c=20"])

        print(f"\nclient CPU per call, n={n}, reps={a.reps}, pinned={pin}, python {sys.version.split()[0]}\n")
        print(f"| {'scenario':<36} | {'µs/call (median)':>16} | {'min':>7} | {'max':>7} |")
        print(f"|{'-' * 38}|{'-' * 18}:|{'-' * 8}:|{'-' * 8}:|")
        for name, values in results.items():
            print(
                f"| {name:<36} | {statistics.median(values):>16.1f} | {min(values):>7.1f} | {max(values):>7.1f} |"
            )
        print()
        print(f"| {'ratio (same-rep, median)':<36} | {'value':>7} | {'target':>6} |")
        print(f"|{'-' * 38}|{'-' * 8}:|{'-' * 7}:|")
        for name, target in (("seq", 1.10), ("c=20", 1.10), ("1000/20", 1.20)):
            label = {"seq": "transport/raw seq", "c=20": "transport/raw c=20", "1000/20": "1000 in flight / c=20"}[name]
            print(f"| {label:<36} | {statistics.median(ratios[name]):>7.3f} | {target:>6.2f} |")

        b = breakdown(max(n, 10000), a.reps)
        print("\nno kernel (in-memory stream, gc off, min of reps), µs/call:")
        print(f"| {'raw h11':<44} | {b['raw']:>6.2f} |")
        print(f"| {'transport.send(prebuilt Request)':<44} | {b['prebuilt']:>6.2f} |")
        print(f"| {'transport.send(Request(...)) built per call':<44} | {b['built']:>6.2f} |")
        print(
            f"transport's own cost: {b['prebuilt'] - b['raw']:+.2f} µs/call; "
            f"building the Request: {b['built'] - b['prebuilt']:+.2f} µs/call"
        )

        small, large = peak_memory(port, n, 1000, 20), peak_memory(port, 2 * n, 1000, 20)
        print(
            f"\ntracemalloc peak with 1000 in flight: {small / 1024:.0f} KiB for {n} calls, "
            f"{large / 1024:.0f} KiB for {2 * n} calls ({small / 1000:.0f} B per in-flight task)"
        )
    finally:
        stub.terminate()
        stub.wait()


if __name__ == "__main__":
    main()
