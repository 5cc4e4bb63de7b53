#!/usr/bin/env python3
"""Hostile video upload hosts (issue 20): how many bytes a resumable upload sends before it stops.

    python benchmarks/video_hostile.py [--only trio,httpx_sync] [--client-src DIR] [--cap-mib 600]

Three hosts, the emulator's upload host made hostile (``fake.video_store.behaviour``), each in
its own server process on loopback, with the sizes the issue reported:

* ``forgetful``: a 40 MiB file in 8 MiB chunks; the host accepts chunk 1, answers 416 to chunk 2
  and then reports 0 bytes received (before the fix: 495 MB sent, 118 chunk POSTs);
* ``byte_a_chunk``: a 3 MiB file in 8 MiB chunks (one chunk holds the file); the host confirms
  one byte per chunk (before: 10 GB sent);
* ``overclaim``: 3,145,851 bytes in 1,000,000-byte chunks; after chunk 1 the host says it holds
  the whole file (before: reported as success with 1,000,000 bytes held).

Each upload runs in a fresh client process on every adapter, with the default 5 attempts and no
waits between them (``RetryPolicy(attempts=5, base=0, cap=0)``: the waits change the time, not the
bytes). ``--client-src DIR`` runs the clients from another source tree (e.g. ``/work/main/src``,
to measure the code before the fix); the server stays this tree's, and once ``--cap-mib`` has
arrived it drops every connection, so a client that would never stop does stop (its row then
says "capped").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

ADAPTERS = ("httpx_sync", "httpx_asyncio", "httpx_trio", "trio")
MiB = 1 << 20
SCENARIOS: dict[str, tuple[int, int]] = {  # behaviour -> (file size, chunk size)
    "forgetful": (40 * MiB, 8 * MiB),
    "byte_a_chunk": (3 * MiB, 8 * MiB),
    "overclaim": (3_145_851, 1_000_000),
}


def serve(behaviour: str, cap: int) -> None:
    """The server process: one emulator, hostile, digest-only; answers "posted" on stdin."""
    import trio

    from okru_proto.testing import FakeClock, FakeOK
    from okru_proto.testing import _video as video
    from okru_trio.testing import serve_fake

    fake = FakeOK(clock=FakeClock())
    fake.video_store.keep_bytes = 0
    fake.video_store.behaviour = behaviour  # type: ignore[assignment]
    token = fake.issue_token(scope=["VALUABLE_ACCESS", "VIDEO_CONTENT"])["access_token"]
    write = video.VideoSink.write

    def capped(self: Any, data: Any) -> bool:
        keep = write(self, data)
        return keep and fake.video_store.posted < cap  # past the cap: drop the connection

    video.VideoSink.write = capped  # type: ignore[method-assign]

    async def main() -> None:
        async with serve_fake(fake) as url:
            print(json.dumps({"url": url, "token": token, "app_id": fake.app_id, "app_key": fake.app_key,
                              "app_secret_key": fake.app_secret_key}), flush=True)
            while await trio.to_thread.run_sync(sys.stdin.readline):
                uploads = sum(1 for r in fake.requests if r.method == "/uploadVideo" and r.request.method == "POST")
                updates = sum(1 for r in fake.requests if r.method == "video.update")
                print(json.dumps({"posted": fake.video_store.posted, "posts": uploads, "updates": updates}),
                      flush=True)

    trio.run(main)


def client(adapter: str, server: dict[str, Any], path: str, chunk: int) -> None:
    """One upload in this process; prints its outcome as JSON."""
    from okru_proto import Endpoints, RetryPolicy

    url = server["url"]
    args = (server["app_id"], server["app_key"], server["app_secret_key"], server["token"])
    options = {"endpoints": Endpoints(api=url, connect=url)}
    upload = {"title": "T", "resumable": True, "chunk_size": chunk, "retry": RetryPolicy(attempts=5, base=0.0, cap=0.0)}
    started = time.perf_counter()
    try:
        if adapter == "httpx_sync":
            from okru_httpx.sync import ServerSession

            with ServerSession(*args, **options) as session:
                session.upload_video(path, **upload)
        elif adapter == "trio":
            import trio

            import okru_trio

            async def run_trio() -> None:
                async with okru_trio.ServerSession(*args, **options) as session:
                    await session.upload_video(path, **upload)
            trio.run(run_trio)
        else:
            import anyio

            import okru_httpx

            async def run_httpx() -> None:
                async with okru_httpx.ServerSession(*args, **options) as session:
                    await session.upload_video(path, **upload)
            anyio.run(run_httpx, backend=adapter.removeprefix("httpx_"))
        outcome, message = "success", ""
    except Exception as exc:  # the outcome is the measurement
        outcome, message = type(exc).__name__, str(exc)
    print(json.dumps({"outcome": outcome, "message": message[:240], "seconds": time.perf_counter() - started}))


def measure(adapter: str, behaviour: str, client_src: str | None, cap: int) -> dict[str, Any]:
    size, chunk = SCENARIOS[behaviour]
    server = subprocess.Popen([sys.executable, __file__, "--serve", behaviour, "--cap", str(cap)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdin is not None and server.stdout is not None
    fd, path = tempfile.mkstemp(prefix="okru-hostile-", suffix=".mp4")
    try:
        with os.fdopen(fd, "wb") as handle:
            block = os.urandom(MiB)
            for start in range(0, size, MiB):
                handle.write(block[: min(MiB, size - start)])
        info = json.loads(server.stdout.readline())
        env = dict(os.environ)
        if client_src:
            env["PYTHONPATH"] = client_src + os.pathsep + env.get("PYTHONPATH", "")
        done = subprocess.run([sys.executable, __file__, "--client", adapter, "--server", json.dumps(info),
                               "--path", path, "--chunk", str(chunk)], env=env, capture_output=True, text=True,
                              check=False)
        result = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {
            "outcome": "crashed", "message": done.stderr[-240:], "seconds": 0.0}
        server.stdin.write("posted\n")
        server.stdin.flush()
        result.update(json.loads(server.stdout.readline()))
        result["capped"] = result["posted"] >= cap
        return {"adapter": adapter, "behaviour": behaviour, "size": size, "chunk": chunk, **result}
    finally:
        os.unlink(path)
        server.stdin.close()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated adapters")
    parser.add_argument("--scenarios", help="comma-separated hosts (forgetful, byte_a_chunk, overclaim)")
    parser.add_argument("--client-src", help="run the clients from this source tree")
    parser.add_argument("--cap-mib", type=int, default=600)
    parser.add_argument("--serve")
    parser.add_argument("--cap", type=int)
    parser.add_argument("--client")
    parser.add_argument("--server")
    parser.add_argument("--path")
    parser.add_argument("--chunk", type=int)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.cap)
        return 0
    if args.client:
        client(args.client, json.loads(args.server), args.path, args.chunk)
        return 0
    adapters = args.only.split(",") if args.only else list(ADAPTERS)
    scenarios = args.scenarios.split(",") if args.scenarios else list(SCENARIOS)
    print("| host | file | adapter | outcome | bytes sent | x file | chunk POSTs | video.update | s |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|")
    for behaviour in scenarios:
        for adapter in adapters:
            r = measure(adapter, behaviour, args.client_src, args.cap_mib * MiB)
            outcome = r["outcome"] + (" (capped)" if r["capped"] else "")
            print(f"| {behaviour} | {r['size']:,} | {adapter} | {outcome} | {r['posted']:,} | "
                  f"{r['posted'] / r['size']:.1f} | {r['posts']} | {r['updates']} | {r['seconds']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
