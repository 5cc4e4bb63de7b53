#!/usr/bin/env python3
"""okru's benchmark: client CPU per signed call next to the raw transport floors, in one run.

    python3 -m nox -s bench                  # what CI and docs/performance.md use
    python benchmarks/run.py [--quick] [-n 3000] [--reps 3] [--only trio,core] [--no-pin]

A keep-alive stub (any request -> ``200 {"uid":"123","name":"Test"}``) runs in a subprocess on
127.0.0.1, pinned to CPU 0. Every (scenario, request shape, mode) runs in a fresh subprocess
pinned to CPU 1: set-up, a warm-up (``max(100, n/10)`` calls, connections opened), then ``n``
timed calls of ``users.getInfo(uids="1,2,3", fields="name,age")``, each signed and its reply
decoded and checked. Measured: ``time.process_time()`` (user+sys of the client) / n, wall
calls/s, ``ru_maxrss``, and a tracemalloc peak over a separate, untimed batch. Reps are
interleaved (rep 1 runs everything, then rep 2 ...); a ratio is taken within one rep, then the
median over reps is shown, so machine-wide slowdowns mostly cancel out.

Scenarios (each okru row is compared with the floor of the same transport and request shape):

* ``raw_httpx_sync`` / ``raw_httpx_async``: ``httpx.Client`` / ``httpx.AsyncClient`` (asyncio)
  with a hand-signed request (sorted ``k=v`` join + md5 + ``urlencode``), ``GET fb.do?<query>``
  or ``POST fb.do`` with the same text as a form body; reply: status check, ``.json()``,
  error-object check.
* ``raw_h11_trio``: trio TCP streams + h11, the same two shapes, the same header set okru_trio
  sends; one connection per worker up to the pool size, a ``trio.Semaphore`` over a pool of
  ``--pool`` connections beyond it (1000 in flight).
* ``okru_httpx_sync`` / ``okru_httpx_async`` / ``okru_trio``: ``ServerSession(...)`` and
  ``API(session).users.getInfo(**params)`` (the method resolved once, as the shared peer bench
  does), ``http_method="GET"`` and the default POST; the same client (httpx) or pool size (trio).

Modes: ``seq`` (one call at a time), ``c20`` (20 tasks, a pool of 20 connections) and ``c1000``
(1000 tasks over the same pool of 20) for the async clients.

``core``: in-process (no I/O) cost of ``prepare_call`` vs the hand-written sign+encode, of
``parse_call_response`` vs a hand-written status + ``json.loads`` + error check, and of one
whole ``SessionCore.call_flow`` step vs both floors; timeit loops, interleaved.

The table goes to stdout and ``benchmarks/results/latest.md``; ``--json`` also prints the raw
records.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from hashlib import md5
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
BODY = b'{"uid":"123","name":"Test"}'
APP_ID = "512000000000"
APP_KEY = "CBAFJIICABABABABA"
APP_SECRET = "0123456789ABCDEF0123456789ABCDEF"
TOKEN = "-s-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-_01234567"
METHOD = "users.getInfo"
PARAMS = {"uids": "1,2,3", "fields": "name,age"}
SECRET = md5((TOKEN + APP_SECRET).encode()).hexdigest()
FORM = "application/x-www-form-urlencoded"
EXPECTED = {"uid": "123", "name": "Test"}

TARGETS = {"httpx": 1.05, "trio": 1.10, "core": 1.30, "inflight": 1.20}


# -- the hand-written floor: sign, encode, check ---------------------------------------------------


def signed_query() -> str:
    """The shared bench's ``oksign.signed_query``: sorted k=v join + md5 + urlencode."""
    p = dict(PARAMS)
    p["method"] = METHOD
    p["application_key"] = APP_KEY
    p["format"] = "json"
    p["sig"] = md5(("".join([f"{k}={p[k]}" for k in sorted(p)]) + SECRET).encode()).hexdigest()
    p["access_token"] = TOKEN
    return urlencode(p)


def parse_floor(status: int, body: bytes) -> Any:
    """What any correct client does with a reply: status, JSON, OK's error object."""
    if status != 200:
        raise RuntimeError(f"HTTP {status}")
    value = json.loads(body)
    if type(value) is dict and "error_code" in value:
        raise RuntimeError(f"OK error {value['error_code']}")
    return value


def check(result: Any) -> None:
    if result != EXPECTED:
        raise SystemExit(f"bad reply {result!r:.200}")


# -- the stub (subprocess, CPU 0) ------------------------------------------------------------------


def serve(port: int, body: bytes = BODY) -> None:
    """Keep-alive HTTP/1.1 stub: one canned JSON reply (``body``) per request (GET, or POST with a
    body). benchmarks/bots.py serves its send-path reply with it too."""
    response = (
        b"HTTP/1.1 200 OK\r\nServer: okstub\r\nContent-Type: application/json;charset=utf-8\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )

    class Stub(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: Any = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            buffer = self.buffer + data if self.buffer else data
            replies = 0
            while True:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    break
                length = 0
                at = buffer.find(b"ength:", 0, end)  # Content-Length / content-length
                if at >= 0:
                    length = int(buffer[at + 6:buffer.find(b"\r\n", at, end + 2)])
                if len(buffer) < end + 4 + length:
                    break
                buffer = buffer[end + 4 + length:]
                replies += 1
            self.buffer = buffer
            if replies:
                self.transport.write(response * replies)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Stub, "127.0.0.1", port, backlog=2048)
        print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Event().wait()

    try:
        import uvloop  # optional: a cheaper stub leaves the client's CPU alone

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


# -- the client scenarios (each in its own subprocess, CPU 1) ------------------------------------

MEASURE: dict[str, float] = {}


class measured:
    """Times exactly the n calls: process CPU, wall."""

    def __enter__(self) -> None:
        gc.collect()
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        MEASURE["wall"] = time.perf_counter() - self.wall
        MEASURE["cpu"] = time.process_time() - self.cpu
        # Before the traced batch: tracemalloc's own bookkeeping would inflate it.
        MEASURE["rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class traced:
    """A separate untimed batch under tracemalloc: the peak of Python allocations."""

    def __enter__(self) -> None:
        gc.collect()
        tracemalloc.start()

    def __exit__(self, *exc: object) -> None:
        MEASURE["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def warmup(n: int) -> int:
    return max(100, n // 10)


def mem_batch(n: int, c: int) -> int:
    return max(2 * c, min(n, 1000))


def run_httpx_sync(impl: str, shape: str, base: str, n: int, c: int, pool: int) -> None:
    import httpx

    url = base + "/fb.do"
    headers = {"content-type": FORM}
    with httpx.Client() as client:
        call: Callable[[], Any]
        if impl == "raw":
            if shape == "GET":
                def call() -> Any:
                    r = client.get(url + "?" + signed_query())
                    return parse_floor(r.status_code, r.content)
            else:
                def call() -> Any:
                    r = client.post(url, content=signed_query().encode(), headers=headers)
                    return parse_floor(r.status_code, r.content)
        else:
            from okru_httpx.sync import API, ServerSession
            from okru_proto import Endpoints

            session = ServerSession(APP_ID, APP_KEY, APP_SECRET, TOKEN, client=client,
                                    endpoints=Endpoints(api=base), http_method=shape)
            method = API(session).users.getInfo

            def call() -> Any:
                return method(**PARAMS)

        for _ in range(warmup(n)):
            check(call())
        with measured():
            for _ in range(n):
                check(call())
        with traced():
            for _ in range(mem_batch(n, c)):
                check(call())


async def asyncio_calls(call: Callable[[], Any], n: int, c: int) -> None:
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


def run_httpx_async(impl: str, shape: str, base: str, n: int, c: int, pool: int) -> None:
    import httpx

    url = base + "/fb.do"
    headers = {"content-type": FORM}

    async def main() -> None:
        size = min(c, pool)
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        async with httpx.AsyncClient(limits=limits) as client:
            call: Callable[[], Any]
            if impl == "raw":
                if shape == "GET":
                    async def call() -> Any:
                        r = await client.get(url + "?" + signed_query())
                        return parse_floor(r.status_code, r.content)
                else:
                    async def call() -> Any:
                        r = await client.post(url, content=signed_query().encode(), headers=headers)
                        return parse_floor(r.status_code, r.content)
            else:
                from okru_httpx import API, ServerSession
                from okru_proto import Endpoints

                session = ServerSession(APP_ID, APP_KEY, APP_SECRET, TOKEN, client=client,
                                        endpoints=Endpoints(api=base), http_method=shape)
                method = API(session).users.getInfo

                def call() -> Any:
                    return method(**PARAMS)

            await asyncio_calls(call, warmup(n), c)
            with measured():
                await asyncio_calls(call, n, c)
            with traced():
                await asyncio_calls(call, mem_batch(n, c), c)

    asyncio.run(main())


async def trio_calls(call: Callable[[], Any], n: int, c: int) -> None:
    import trio

    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            check(await call())

    if c <= 1:
        await worker()
        return
    async with trio.open_nursery() as nursery:
        for _ in range(c):
            nursery.start_soon(worker)


def run_trio(impl: str, shape: str, base: str, n: int, c: int, pool: int) -> None:
    import trio

    async def main() -> None:
        size = min(c, pool)
        if impl == "raw":
            async with RawH11Pool(base, size, bounded=c > size) as raw:
                call = raw.get if shape == "GET" else raw.post
                await trio_calls(call, warmup(n), c)
                with measured():
                    await trio_calls(call, n, c)
                with traced():
                    await trio_calls(call, mem_batch(n, c), c)
            return
        from okru_proto import Endpoints
        from okru_trio import API, ServerSession

        async with ServerSession(APP_ID, APP_KEY, APP_SECRET, TOKEN, endpoints=Endpoints(api=base),
                                 http_method=shape, max_connections=size) as session:
            method = API(session).users.getInfo

            def call() -> Any:
                return method(**PARAMS)

            await trio_calls(call, warmup(n), c)
            with measured():
                await trio_calls(call, n, c)
            with traced():
                await trio_calls(call, mem_batch(n, c), c)

    trio.run(main)


class RawH11Pool:
    """The trio floor: h11 over trio TCP streams, keep-alive, the headers okru_trio sends
    (Host, User-Agent; POST adds Content-Type and Content-Length). ``bounded``: more callers than
    connections, so a trio.Semaphore guards the idle list (what any bounded pool needs)."""

    def __init__(self, base: str, size: int, bounded: bool) -> None:
        import h11

        self.h11 = h11
        host_port = base.split("//", 1)[1]
        self.host, port = host_port.split(":")
        self.port = int(port)
        self.path = b"/fb.do"
        self.get_headers = [(b"host", host_port.encode()), (b"user-agent", b"okru/0.1")]
        self.post_headers = [*self.get_headers, (b"content-type", FORM.encode())]
        self.size = size
        self.bounded = bounded
        self.idle: list[Any] = []

    async def __aenter__(self) -> RawH11Pool:
        import trio

        for _ in range(self.size):
            self.idle.append((await trio.open_tcp_stream(self.host, self.port), self.h11.Connection(self.h11.CLIENT)))
        self.semaphore = trio.Semaphore(self.size)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for stream, _ in self.idle:
            await stream.aclose()

    async def get(self) -> Any:
        return await self._call(self.h11.Request(method=b"GET", target=self.path + b"?" + signed_query().encode(),
                                                 headers=self.get_headers), b"")

    async def post(self) -> Any:
        body = signed_query().encode()
        headers = [*self.post_headers, (b"content-length", b"%d" % len(body))]
        return await self._call(self.h11.Request(method=b"POST", target=self.path, headers=headers), body)

    async def _call(self, request: Any, body: bytes) -> Any:
        if self.bounded:
            async with self.semaphore:
                return await self._exchange(request, body)
        return await self._exchange(request, body)

    async def _exchange(self, request: Any, body: bytes) -> Any:
        h11 = self.h11
        stream, conn = self.idle.pop()
        try:
            out = conn.send(request)
            if body:
                out += conn.send(h11.Data(data=body))
            await stream.send_all(out + conn.send(h11.EndOfMessage()))
            chunks = []
            status = 0
            while True:
                ev = conn.next_event()
                if ev is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(65536))
                    continue
                t = type(ev)
                if t is h11.Data:
                    chunks.append(ev.data)
                elif t is h11.Response:
                    status = ev.status_code
                elif t is h11.EndOfMessage:
                    break
                else:
                    raise RuntimeError(f"unexpected h11 event {ev!r}")
            conn.start_next_cycle()
        finally:
            self.idle.append((stream, conn))
        return parse_floor(status, b"".join(chunks))


RUNNERS = {"httpx_sync": run_httpx_sync, "httpx_async": run_httpx_async, "trio": run_trio}


def child(args: argparse.Namespace) -> None:
    """One (scenario, shape, mode) in this fresh process; prints one JSON record."""
    impl, transport = args.child.split("_", 1)
    if transport == "h11_trio":
        transport = "trio"
    c = 1 if args.mode == "seq" else int(args.mode[1:])
    RUNNERS[transport](impl, args.shape, args.base, args.n, c, args.pool)
    rss_kib = MEASURE["rss_kib"]
    print(json.dumps({
        "scenario": args.child, "shape": args.shape, "mode": args.mode, "n": args.n,
        "cpu_us": MEASURE["cpu"] / args.n * 1e6, "calls_s": args.n / MEASURE["wall"],
        "cpu_wall": MEASURE["cpu"] / MEASURE["wall"], "rss_mib": rss_kib / 1024,
        "tracemalloc_kib": MEASURE["tracemalloc_peak"] / 1024,
    }))


# -- the core, in process --------------------------------------------------------------------------


def core_cases() -> dict[str, Callable[[], object]]:
    from okru_proto import Endpoints, Secret, Token
    from okru_proto.adapter import API, Response, SessionCore, parse_call_response, prepare_call

    endpoints = Endpoints(api="http://127.0.0.1:8765")
    secret, token = Secret(SECRET), Secret(TOKEN)
    headers = (("server", "okstub"), ("content-type", "application/json;charset=utf-8"),
               ("content-length", str(len(BODY))))
    response = Response(200, headers, BODY)

    # Same output as the floor, checked once before timing.
    get = prepare_call(METHOD, PARAMS, app_key=APP_KEY, endpoints=endpoints, secret=secret,
                       access_token=token, http_method="GET")
    floor_query = signed_query()
    assert sorted(get.url.split("?", 1)[1].split("&")) == sorted(floor_query.split("&")), (get.url, floor_query)
    assert parse_call_response(response, METHOD) == parse_floor(200, BODY) == EXPECTED

    core = SessionCore(app_id=APP_ID, app_key=APP_KEY, app_secret_key=APP_SECRET,
                       token=Token(access_token=Secret(TOKEN)), clock=time.time, endpoints=endpoints)
    url = endpoints.rest_url

    def floor_get() -> object:
        return url + "?" + signed_query()

    def floor_post() -> object:
        return signed_query().encode()

    def okru_get() -> object:
        return prepare_call(METHOD, PARAMS, app_key=APP_KEY, endpoints=endpoints, secret=secret,
                            access_token=token, http_method="GET")

    def okru_post() -> object:
        return prepare_call(METHOD, PARAMS, app_key=APP_KEY, endpoints=endpoints, secret=secret,
                            access_token=token)

    def floor_parse() -> object:
        return parse_floor(response.status, response.body)

    def okru_parse() -> object:
        return parse_call_response(response, METHOD)

    def floor_step() -> object:
        signed_query().encode()
        return parse_floor(response.status, response.body)

    def okru_step() -> object:
        flow = core.call_flow(METHOD, PARAMS)
        next(flow)
        try:
            flow.send(response)
        except StopIteration as done:
            return done.value
        raise AssertionError("call_flow did not finish")

    class Session:
        def call(self, method: str, params: object) -> object:
            return params

    api = API(Session())

    def floor_attr() -> object:
        return Session.call(api._session, METHOD, PARAMS)

    def okru_attr() -> object:
        return api.users.getInfo(**PARAMS)

    return {"floor_get": floor_get, "okru_get": okru_get, "floor_post": floor_post, "okru_post": okru_post,
            "floor_parse": floor_parse, "okru_parse": okru_parse, "floor_step": floor_step,
            "okru_step": okru_step, "floor_attr": floor_attr, "okru_attr": okru_attr}


def core_child(args: argparse.Namespace) -> None:
    import timeit

    cases = core_cases()
    number = max(2000, args.n * 4)
    out: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.inner):
        for name, fn in cases.items():  # interleaved
            out[name].append(timeit.Timer(fn).timeit(number) / number * 1e6)
    # The fastest run of each case: the code's cost with the least interference.
    print(json.dumps({"core": {name: min(values) for name, values in out.items()}}))


# -- the parent: stub, children, table -------------------------------------------------------------

IMPLS = {  # floor -> okru
    ("raw_httpx_sync", "okru_httpx_sync"): ("httpx", ("seq",)),
    ("raw_httpx_async", "okru_httpx_async"): ("httpx", ("seq", "c20", "c1000")),
    ("raw_h11_trio", "okru_trio"): ("trio", ("seq", "c20", "c1000")),
}
GROUPS = {"httpx_sync": ("raw_httpx_sync", "okru_httpx_sync"),
          "httpx_async": ("raw_httpx_async", "okru_httpx_async"),
          "trio": ("raw_h11_trio", "okru_trio")}


def plan(only: set[str]) -> list[tuple[str, str, str]]:
    runs = []
    for (floor, okru), (_, modes) in IMPLS.items():
        group = next(g for g, pair in GROUPS.items() if pair == (floor, okru))
        if only and group not in only and not (group.startswith("httpx") and "httpx" in only):
            continue
        for mode in modes:
            for shape in ("GET", "POST"):
                runs.append((floor, shape, mode))
                runs.append((okru, shape, mode))
    return runs


def pinning(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def run_child(argv: list[str], cpu: int | None) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(Path(__file__)), *argv], capture_output=True, text=True,
                          preexec_fn=pinning(cpu))
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def med(values: list[float]) -> float:
    return statistics.median(values)


def fmt_ratio(values: list[float]) -> str:
    return f"{med(values):.3f}x"


def versions() -> str:
    from importlib import metadata

    out = []
    for name in ("httpx", "httpcore", "anyio", "trio", "h11"):
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(out)


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=None, help="timed calls per scenario and rep (default 3000; --quick 600)")
    ap.add_argument("--reps", type=int, default=None, help="interleaved repetitions (default 3; --quick 1)")
    ap.add_argument("--quick", action="store_true", help="a fast smoke run (n=600, 1 rep)")
    ap.add_argument("--pool", type=int, default=20, help="connections per client in modes c20/c1000 (default 20)")
    ap.add_argument("--only", default="", help="comma list of httpx_sync, httpx_async, httpx, trio, core")
    ap.add_argument("--no-pin", action="store_true", help="do not pin the stub to CPU 0 and clients to CPU 1")
    ap.add_argument("--out", default=str(HERE / "results" / "latest.md"), help="where the Markdown goes")
    ap.add_argument("--json", action="store_true", help="print every raw record too")
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--core-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--inner", type=int, default=5, help=argparse.SUPPRESS)
    ap.add_argument("--shape", help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.n is None:
        args.n = 600 if args.quick else 3000
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    if args.serve is not None:
        serve(args.serve)
        return 0
    if args.child:
        child(args)
        return 0
    if args.core_child:
        core_child(args)
        return 0

    only = {s.strip() for s in args.only.split(",") if s.strip()}
    pin = not args.no_pin and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2
    stub_cpu, client_cpu = (0, 1) if pin else (None, None)
    runs = plan(only)
    records: dict[tuple[str, str, str], list[dict[str, Any]]] = {r: [] for r in runs}
    core: list[dict[str, float]] = []
    started = time.time()
    stub = subprocess.Popen([sys.executable, str(Path(__file__)), "--serve", "0"], stdout=subprocess.PIPE,
                            text=True, preexec_fn=pinning(stub_cpu))
    try:
        assert stub.stdout is not None
        line = stub.stdout.readline().split()
        if not line or line[0] != "READY":
            raise SystemExit("the stub did not start")
        base = f"http://127.0.0.1:{line[1]}"
        for rep in range(args.reps):
            # Rotate the order each rep so no scenario always runs right after the same one.
            order = runs[rep % len(runs):] + runs[:rep % len(runs)] if runs else []
            for scenario, shape, mode in order:
                rec = run_child(["--child", scenario, "--shape", shape, "--mode", mode, "--base", base,
                                 "-n", str(args.n), "--pool", str(args.pool)], client_cpu)
                records[(scenario, shape, mode)].append(rec)
                if args.json:
                    print(json.dumps(rec))
                print(f"  rep {rep + 1}/{args.reps} {scenario:<17} {shape:<4} {mode:<5} "
                      f"{rec['cpu_us']:8.1f} µs/call {rec['calls_s']:8.0f} calls/s", file=sys.stderr, flush=True)
            if not only or "core" in only:
                core.append(run_child(["--core-child", "-n", str(args.n)], client_cpu)["core"])
                if args.json:
                    print(json.dumps(core[-1]))
    finally:
        stub.terminate()
        stub.wait()

    table = render(records, core, args, pin, time.time() - started)
    print("\n" + table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def render(records: dict[tuple[str, str, str], list[dict[str, Any]]], core: list[dict[str, float]],
           args: argparse.Namespace, pin: bool, seconds: float) -> str:
    lines = [
        f"Client CPU per signed call, measured in one run ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}): "
        f"n={args.n} timed calls per scenario and rep, {args.reps} interleaved rep(s), pool {args.pool}; "
        f"{'stub pinned to CPU 0, clients to CPU 1' if pin else 'not pinned'}; {machine()}; "
        f"Python {platform.python_version()}; {versions()}; run took {seconds:.0f} s.",
        "",
        "Ratios are okru ÷ the floor of the same transport, request shape and mode in the same rep, "
        "median over reps. CPU µs/call: median (min–max over reps).",
        "",
        "| transport | shape | mode | floor CPU µs/call | okru CPU µs/call | ratio | target | | floor calls/s | okru calls/s | okru peak RSS MiB | okru tracemalloc peak KiB |",
        "|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    inflight: list[str] = []
    for (floor, okru), (kind, modes) in IMPLS.items():
        target = TARGETS[kind]
        for mode in modes:
            for shape in ("GET", "POST"):
                f = records.get((floor, shape, mode))
                o = records.get((okru, shape, mode))
                if not f or not o:
                    continue
                fc = [r["cpu_us"] for r in f]
                oc = [r["cpu_us"] for r in o]
                ratios = [b / a for a, b in zip(fc, oc)]
                ok = "✅" if med(ratios) <= target else "❌"
                lines.append(
                    f"| {okru.removeprefix('okru_')} | {shape} | {mode} | {med(fc):.1f} ({min(fc):.0f}–{max(fc):.0f}) "
                    f"| {med(oc):.1f} ({min(oc):.0f}–{max(oc):.0f}) | {fmt_ratio(ratios)} | ≤ {target:.2f} | {ok} "
                    f"| {med([r['calls_s'] for r in f]):.0f} | {med([r['calls_s'] for r in o]):.0f} "
                    f"| {max(r['rss_mib'] for r in o):.1f} | {max(r['tracemalloc_kib'] for r in o):.0f} |")
        if "c20" in modes and "c1000" in modes:
            for shape in ("GET", "POST"):
                for who in (okru, floor):
                    a = records.get((who, shape, "c20"))
                    b = records.get((who, shape, "c1000"))
                    if not a or not b:
                        continue
                    ratios = [y["cpu_us"] / x["cpu_us"] for x, y in zip(a, b)]
                    is_okru = who == okru
                    ok = ("✅" if med(ratios) <= TARGETS["inflight"] else "❌") if is_okru else "(floor)"
                    inflight.append(
                        f"| {who} | {shape} | {med([r['cpu_us'] for r in a]):.1f} "
                        f"| {med([r['cpu_us'] for r in b]):.1f} | {fmt_ratio(ratios)} "
                        f"| {'≤ 1.20' if is_okru else '—'} | {ok} "
                        f"| {max(r['tracemalloc_kib'] for r in a):.0f} | {max(r['tracemalloc_kib'] for r in b):.0f} |")
    if inflight:
        lines += [
            "",
            "1000 in flight (1000 tasks over the same pool of connections) vs 20, CPU µs per call:",
            "",
            "| client | shape | c=20 | c=1000 | ratio | target | | tracemalloc peak KiB c=20 | c=1000 |",
            "|---|---|---:|---:|---:|---:|---|---:|---:|",
            *inflight,
        ]
    if core:
        lines += [
            "",
            "The core in process (no I/O), µs per operation (fastest of 5 timeit runs per rep, median over reps):",
            "",
            "| operation | floor | µs | okru | µs | ratio (or µs added) | target | |",
            "|---|---|---:|---|---:|---:|---:|---|",
        ]
        rows = [
            ("build+sign, GET", "sorted join + md5 + urlencode", "floor_get", "prepare_call(http_method='GET')", "okru_get", True),
            ("build+sign, POST", "the same + .encode()", "floor_post", "prepare_call() (form body)", "okru_post", True),
            ("parse one result", "status + json.loads + error check", "floor_parse", "parse_call_response", "okru_parse", True),
            ("whole call step", "both floors", "floor_step", "SessionCore.call_flow: next + send", "okru_step", False),
            ("API attribute chain", "session.call(method, params)", "floor_attr", "api.users.getInfo(**params)", "okru_attr", False),
        ]
        for what, fname, fkey, oname, okey, targeted in rows:
            fv = [c[fkey] for c in core]
            ov = [c[okey] for c in core]
            ratios = [b / a for a, b in zip(fv, ov)]
            target = f"≤ {TARGETS['core']:.2f}" if targeted else "—"
            ok = ("✅" if med(ratios) <= TARGETS["core"] else "❌") if targeted else ""
            # Untargeted rows: what okru adds, in µs (a ratio to a near-zero floor says nothing).
            ratio = fmt_ratio(ratios) if targeted else f"{med(ov) - med(fv):+.2f} µs"
            lines.append(f"| {what} | {fname} | {med(fv):.2f} | `{oname}` | {med(ov):.2f} | {ratio} "
                         f"| {target} | {ok} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
