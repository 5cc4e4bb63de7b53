#!/usr/bin/env python3
"""A game's server side: verify_launch's cost, and payments_app under uvicorn.

    python benchmarks/apps.py [--quick] [--reps 3] [-n 20000] [--requests 4000] [--only launch,uvicorn]

* ``launch``: ``verify_launch`` on a launch's decoded parameters (a mapping, as a web framework
  hands them over; the constructed launch of docs/protocol.md §13.5), next to the hand-written
  floor ``check_launch(params, secret)``: the same two MD5 checks by hand (``sig`` over the
  sorted parameters, ``auth_sig``), compared with ``==`` (and a second floor comparing with
  ``hmac.compare_digest``, as it should), returning the user id. CPU time per call, interleaved.
* ``uvicorn``: ``payments_app`` with a no-op ``async`` handler (its default in-memory store, so
  every request claims and records a new transaction) under uvicorn (asyncio, h11, one worker, a
  subprocess), next to a bare ASGI app doing the same MD5 check of the query and the same XML
  answer, under the same server. Clients on 4 threads send distinct signed payments over
  keep-alive connections (a bounded count each); requests/s, and the server process's CPU time
  per request (from /proc: on a machine shared with other work, wall-clock rates swing with the
  neighbours' load, CPU per request much less). Reps alternate which server goes first.

Targets (issue 22): ``payments_app`` >= 0.9x the bare app's requests/s; ``verify_launch`` <= 1.2x
the hand-written check.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

SECRET = "EXAMPLESECRET0123456789A"
APP_KEY = "CBAEXAMPLEABABABA"
SESSION_KEY = "-s-EXAMPLEsessionKey.abc"
LAUNCH = {
    "api_server": "https://api.ok.ru/", "apiconnection": "512000000000_1718000000000",
    "application_key": APP_KEY, "authorized": "1", "logged_user_id": "571234567890",
    "session_key": SESSION_KEY, "session_secret_key": "0123456789abcdef0123456789abcdef",
    "auth_sig": "94c49cf84ec5605807da7aae6ba0afd6", "refplace": "direct", "web_server": "https://ok.ru",
    "first_start": "0", "container": "true", "sig": "efb1b703e4c2099470cf643478e24c78",
}
SUCCESS_XML = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
               b'<callbacks_payment_response xmlns="http://api.forticom.com/1.0/">true</callbacks_payment_response>')


# -- verify_launch ----------------------------------------------------------------------------------

def launch_cases() -> dict[str, Callable[[], object]]:
    from hmac import compare_digest

    from okru_proto.apps import verify_launch

    md5 = hashlib.md5

    def check_launch(p: dict[str, str], secret: str) -> str:
        """What a game's server would write by hand: both signatures, then the user id."""
        text = "".join([f"{k}={p[k]}" for k in sorted(p) if k != "sig"])
        if md5((text + secret).encode()).hexdigest() != p["sig"]:
            raise SystemExit("sig")
        if md5((p["logged_user_id"] + p["session_key"] + secret).encode()).hexdigest() != p["auth_sig"]:
            raise SystemExit("auth_sig")
        return p["logged_user_id"]

    def check_launch_ct(p: dict[str, str], secret: str) -> str:
        """The same, comparing in constant time (hmac.compare_digest), as it should."""
        text = "".join([f"{k}={p[k]}" for k in sorted(p) if k != "sig"])
        if not compare_digest(md5((text + secret).encode()).hexdigest(), p["sig"]):
            raise SystemExit("sig")
        if not compare_digest(md5((p["logged_user_id"] + p["session_key"] + secret).encode()).hexdigest(),
                              p["auth_sig"]):
            raise SystemExit("auth_sig")
        return p["logged_user_id"]

    return {"floor": lambda: check_launch(LAUNCH, SECRET), "floor_ct": lambda: check_launch_ct(LAUNCH, SECRET),
            "okru": lambda: verify_launch(LAUNCH, app_secret_key=SECRET).logged_user_id}


def bench_launch(reps: int, n: int) -> list[tuple[float, float]]:
    """(okru / floor, okru / floor_ct) per rep."""
    cases = launch_cases()
    ratios = []
    for _ in range(reps):
        times = {}
        for name in ("floor", "floor_ct", "okru"):
            fn = cases[name]
            for _ in range(n // 10):
                fn()
            gc.collect()
            start = time.process_time()
            for _ in range(n):
                fn()
            times[name] = (time.process_time() - start) / n
        ratios.append((times["okru"] / times["floor"], times["okru"] / times["floor_ct"]))
        print(f"  verify_launch: floor {times['floor'] * 1e6:.2f} µs (==), {times['floor_ct'] * 1e6:.2f} µs "
              f"(compare_digest), okru {times['okru'] * 1e6:.2f} µs; ratio {ratios[-1][0]:.3f}x / "
              f"{ratios[-1][1]:.3f}x", flush=True)
    return ratios


# -- payments_app under uvicorn ---------------------------------------------------------------------

def signed_query(transaction_id: str) -> str:
    params = {"application_key": APP_KEY, "call_id": "1718000000000", "method": "callbacks.payment",
              "uid": "571234567890", "transaction_id": transaction_id, "transaction_time": "2024-06-10 12:34:56",
              "product_code": "gems_100", "amount": "10"}
    text = "".join(f"{k}={params[k]}" for k in sorted(params))
    params["sig"] = hashlib.md5((text + SECRET).encode()).hexdigest()
    return urlencode(params)


async def bare_app(scope: Any, receive: Any, send: Any) -> None:
    """The floor: the query's MD5 check and OK's XML answer, nothing else (no source check, no
    prices, no record of the transaction, no handler)."""
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    params = dict(parse_qsl(scope["query_string"].decode(), keep_blank_values=True))
    text = "".join(f"{k}={params[k]}" for k in sorted(params) if k != "sig")
    if hashlib.md5((text + SECRET).encode()).hexdigest() != params.get("sig"):
        raise SystemExit("sig")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/xml"), (b"content-length", b"%d" % len(SUCCESS_XML))]})
    await send({"type": "http.response.body", "body": SUCCESS_XML})


def uvicorn_server(kind: str) -> None:
    import socket

    import uvicorn

    from okru_asgi import payments_app

    async def credit(payment: Any) -> None:
        return None

    app = payments_app(credit, app_secret_key=SECRET, allowed_networks=["127.0.0.0/8"]) if kind == "okru" else bare_app
    sock = socket.socket()
    # Accepted connections inherit it (Linux): the answer's head and body leave without waiting
    # for the client's delayed ACK (Nagle), for both apps alike.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    print(f"READY {sock.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, http="h11", lifespan="on",
                                  proxy_headers=False)).run(sockets=[sock])


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_uvicorn(total: int, kind: str, rep: int, threads: int = 4) -> tuple[float, float]:
    """(requests/s, server CPU µs per request)."""
    proc = subprocess.Popen([sys.executable, __file__, "--uvicorn-server", kind], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().split()[1])
        per = total // threads
        queries = {t: [f"/ok/payment?{signed_query(f'{rep}.{t}.{i}')}" for i in range(per)] for t in (*range(threads), 99)}

        def client(t: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for path in queries[t]:
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                if response.status != 200 or body != SUCCESS_XML:
                    raise SystemExit(f"status {response.status}: {body[:200]!r}")
            conn.close()

        client(99)  # warm-up (one thread's worth)
        workers = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
        cpu = process_cpu(proc.pid)
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - start
        cpu = process_cpu(proc.pid) - cpu
    finally:
        proc.terminate()
        proc.wait(30)
    rate = per * threads / elapsed
    per_request = cpu / (per * threads) * 1e6
    print(f"  {'payments_app' if kind == 'okru' else 'bare ASGI app'} under uvicorn: {rate:.0f} requests/s, "
          f"server CPU {per_request:.0f} µs/request ({threads} client threads, keep-alive)", flush=True)
    return rate, per_request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("-n", type=int, default=20000, help="verify_launch calls per rep")
    parser.add_argument("--requests", type=int, default=4000, help="payment callbacks per server per rep")
    parser.add_argument("--only", default="launch,uvicorn")
    parser.add_argument("--uvicorn-server", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.uvicorn_server:
        uvicorn_server(args.uvicorn_server)
        return 0
    if args.quick:
        args.reps, args.n, args.requests = 2, 5000, 1000
    only = set(args.only.split(","))
    summary: dict[str, Any] = {}
    if "launch" in only:
        print("verify_launch vs a hand-written md5 check (CPU per call):", flush=True)
        pairs = bench_launch(args.reps, args.n)
        summary["verify_launch_ratio"] = statistics.median(r for r, _ in pairs)
        summary["verify_launch_ratio_constant_time_floor"] = statistics.median(r for _, r in pairs)
    if "uvicorn" in only:
        print("payments_app vs a bare ASGI app under uvicorn:", flush=True)
        ratios, cpu_ratios = [], []
        for rep in range(args.reps):
            order = ("bare", "okru") if rep % 2 == 0 else ("okru", "bare")
            done = {kind: bench_uvicorn(args.requests, kind, rep) for kind in order}
            ratios.append(done["okru"][0] / done["bare"][0])
            cpu_ratios.append(done["bare"][1] / done["okru"][1])
            print(f"  ratio {ratios[-1]:.3f}x requests/s; {cpu_ratios[-1]:.3f}x requests per server CPU second",
                  flush=True)
        summary["payments_app_ratio"] = statistics.median(ratios)
        summary["payments_app_ratio_per_cpu"] = statistics.median(cpu_ratios)
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
