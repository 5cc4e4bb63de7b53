#!/usr/bin/env python3
"""Video upload benchmark: a generated file to the loopback emulator on every adapter.

    python benchmarks/video.py [--size-mib 1024] [--chunk-mib 8] [--only httpx_sync,trio]

The file (``--size-mib``, default 1024) is generated in /tmp and deleted afterwards. The
emulator runs in its own process (``--serve``: a FakeOK keeping only a digest of what arrives,
on the loopback server). Each measurement runs in a fresh client process:

* ``okru``: ``session.upload_video(path, resumable=True, chunk_size=...)``;
* ``hand``: a hand-written loop streaming the same chunks with the same transport (httpx
  ``Client``/``AsyncClient`` with a block iterator; raw h11 over trio for okru_trio), the same
  ``Content-Range`` headers, 1 MiB blocks, no status GETs, no retries.

Reported per adapter: client CPU (user+sys) per MiB for both and their ratio, and the peak RSS
growth during the upload (``ru_maxrss`` after minus before). Then, per adapter, an upload with 3
injected connection drops (emulator in-process for this run, so it can count what was re-sent):
it must complete with the emulator holding exactly the file's bytes, re-sending at most the
chunk in flight each time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

ADAPTERS = ("httpx_sync", "httpx_asyncio", "httpx_trio", "trio")
MiB = 1 << 20


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -- the server process -------------------------------------------------------------------

def serve() -> None:
    import trio

    from okru_proto.testing import FakeClock, FakeOK
    from okru_trio.testing import serve_fake

    fake = FakeOK(clock=FakeClock())
    fake.video_store.keep_bytes = 0  # digest and count only: the server must not hold 1 GiB
    token = fake.issue_token(scope=["VALUABLE_ACCESS", "VIDEO_CONTENT"])["access_token"]

    async def main() -> None:
        async with serve_fake(fake) as url:
            print(json.dumps({"url": url, "token": token, "app_id": fake.app_id, "app_key": fake.app_key,
                              "app_secret_key": fake.app_secret_key}), flush=True)
            await trio.sleep_forever()

    try:
        trio.run(main)
    except KeyboardInterrupt:
        pass


# -- the client process -------------------------------------------------------------------

def _session(adapter: str, info: dict[str, Any]) -> Any:
    from okru_proto import Endpoints

    args = (info["app_id"], info["app_key"], info["app_secret_key"], info["token"])
    endpoints = Endpoints(api=info["url"])
    if adapter == "httpx_sync":
        from okru_httpx.sync import ServerSession
        return ServerSession(*args, endpoints=endpoints, timeout=120)
    if adapter.startswith("httpx"):
        from okru_httpx import ServerSession as AsyncServerSession
        return AsyncServerSession(*args, endpoints=endpoints, timeout=120)
    from okru_trio import ServerSession as TrioServerSession
    return TrioServerSession(*args, endpoints=endpoints, timeout=600, read_timeout=120)


def _chunks(size: int, chunk: int) -> list[tuple[int, int]]:
    return [(o, min(o + chunk, size)) for o in range(0, size, chunk)]


def _blocks(path: str, start: int, end: int) -> Any:
    with open(path, "rb") as handle:
        handle.seek(start)
        left = end - start
        while left:
            data = handle.read(min(MiB, left))
            left -= len(data)
            yield data


def client(adapter: str, mode: str, path: str, chunk: int, info: dict[str, Any]) -> dict[str, Any]:
    size = os.path.getsize(path)
    if adapter == "httpx_sync":
        session = _session(adapter, info)
        with session:
            url = session.call("video.getUploadUrl", {"file_name": "b.mp4", "file_size": size})["upload_url"] \
                if mode == "hand" else None
            rss0, cpu0, wall0 = _rss_mib(), time.process_time(), time.perf_counter()
            if mode == "okru":
                session.upload_video(path, resumable=True, chunk_size=chunk, title="bench")
            else:
                client_ = session.client
                for start, end in _chunks(size, chunk):
                    reply = client_.post(url, content=_blocks(path, start, end), headers={
                        "content-type": "application/octet-stream", "content-length": str(end - start),
                        "content-range": f"bytes {start}-{end - 1}/{size}"})
                    assert reply.status_code == 200, reply.status_code
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        return {"cpu": cpu, "wall": wall, "rss_growth": _rss_mib() - rss0}
    if adapter.startswith("httpx"):
        import anyio

        async def run_httpx() -> dict[str, Any]:
            session = _session(adapter, info)
            async with session:
                url = (await session.call("video.getUploadUrl", {"file_name": "b.mp4", "file_size": size}))[
                    "upload_url"] if mode == "hand" else None
                rss0, cpu0, wall0 = _rss_mib(), time.process_time(), time.perf_counter()
                if mode == "okru":
                    await session.upload_video(path, resumable=True, chunk_size=chunk, title="bench")
                else:
                    for start, end in _chunks(size, chunk):
                        async def body(start: int = start, end: int = end) -> Any:
                            handle = await anyio.to_thread.run_sync(open, path, "rb")
                            try:
                                await anyio.to_thread.run_sync(handle.seek, start)
                                left = end - start
                                while left:
                                    data = await anyio.to_thread.run_sync(handle.read, min(MiB, left))
                                    left -= len(data)
                                    yield data
                            finally:
                                handle.close()
                        reply = await session.client.post(url, content=body(), headers={
                            "content-type": "application/octet-stream", "content-length": str(end - start),
                            "content-range": f"bytes {start}-{end - 1}/{size}"})
                        assert reply.status_code == 200, reply.status_code
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            return {"cpu": cpu, "wall": wall, "rss_growth": _rss_mib() - rss0}

        return anyio.run(run_httpx, backend="trio" if adapter == "httpx_trio" else "asyncio")

    import h11
    import trio

    async def run_trio() -> dict[str, Any]:
        session = _session(adapter, info)
        async with session:
            url = (await session.call("video.getUploadUrl", {"file_name": "b.mp4", "file_size": size}))[
                "upload_url"] if mode == "hand" else None
            rss0, cpu0, wall0 = _rss_mib(), time.process_time(), time.perf_counter()
            if mode == "okru":
                await session.upload_video(path, resumable=True, chunk_size=chunk, title="bench")
            else:
                from urllib.parse import urlsplit
                parts = urlsplit(url)
                stream = await trio.open_tcp_stream(parts.hostname, parts.port)
                conn = h11.Connection(h11.CLIENT)
                target = f"{parts.path}?{parts.query}".encode()
                handle = open(path, "rb")  # noqa: SIM115
                try:
                    for start, end in _chunks(size, chunk):
                        await stream.send_all(conn.send(h11.Request(method="POST", target=target, headers=[
                            ("host", parts.netloc), ("content-type", "application/octet-stream"),
                            ("content-length", str(end - start)),
                            ("content-range", f"bytes {start}-{end - 1}/{size}")])))
                        await trio.to_thread.run_sync(handle.seek, start)
                        left = end - start
                        while left:
                            data = await trio.to_thread.run_sync(handle.read, min(MiB, left))
                            left -= len(data)
                            await stream.send_all(conn.send(h11.Data(data=data)))
                        await stream.send_all(conn.send(h11.EndOfMessage()))
                        while True:
                            event = conn.next_event()
                            if event is h11.NEED_DATA:
                                conn.receive_data(await stream.receive_some(65536))
                            elif isinstance(event, h11.Response):
                                assert event.status_code == 200
                            elif isinstance(event, h11.EndOfMessage):
                                conn.start_next_cycle()
                                break
                finally:
                    handle.close()
                    await stream.aclose()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        return {"cpu": cpu, "wall": wall, "rss_growth": _rss_mib() - rss0}

    return trio.run(run_trio)


def drops(adapter: str, path: str, chunk: int) -> dict[str, Any]:
    """3 drops, emulator in this process (it counts what arrived); completes with the file."""
    from okru_proto import RetryPolicy
    from okru_proto.testing import FakeOK
    from okru_trio.testing import run_fake_server

    size = os.path.getsize(path)
    fake = FakeOK()
    fake.video_store.keep_bytes = 0
    token = fake.issue_token(scope=["VALUABLE_ACCESS", "VIDEO_CONTENT"])["access_token"]
    # Mid-chunk drop points: the worst case for re-sending.
    points = [int(size * f) + chunk // 2 for f in (0.2, 0.5, 0.8)]
    for at in points:
        fake.inject_video("drop", at=min(at, size - 1))
    retry = RetryPolicy(attempts=5, base=0.0, cap=0.0)
    with run_fake_server(fake) as url:
        info = {"url": url, "token": token, "app_id": fake.app_id, "app_key": fake.app_key,
                "app_secret_key": fake.app_secret_key}
        session = _session(adapter, info)
        if adapter == "httpx_sync":
            with session:
                video = session.upload_video(path, resumable=True, chunk_size=chunk, retry=retry)
        else:
            import anyio
            import trio

            async def run() -> Any:
                async with session:
                    return await session.upload_video(path, resumable=True, chunk_size=chunk, retry=retry)
            video = (trio.run(run) if adapter == "trio" else
                     anyio.run(run, backend="trio" if adapter == "httpx_trio" else "asyncio"))
    stored = fake.videos[video.video_id]
    sent = 0
    for record in fake.requests:
        rng = record.request.header("content-range")  # type: ignore[attr-defined]
        if rng:
            first, last = rng.split(" ")[1].split("/")[0].split("-")
            sent += int(last) - int(first) + 1
    digest = hashlib.sha256()
    for data in _blocks(path, 0, size):
        digest.update(data)
    return {"complete": stored.complete and stored.received == size and stored.digest() == digest.hexdigest(),
            "faults_left": len(fake.video_store.faults), "resent": sent - size, "max_allowed": 3 * chunk}


# -- the parent -----------------------------------------------------------------------------

def _generate(size: int) -> str:
    fd, path = tempfile.mkstemp(prefix="okru-video-bench-", suffix=".bin", dir="/tmp")
    block = os.urandom(MiB)
    with os.fdopen(fd, "wb") as handle:
        left, n = size, 0
        while left:
            piece = block[: min(MiB, left)]
            handle.write(n.to_bytes(8, "big") + piece[8:] if len(piece) > 8 else piece)
            left -= len(piece)
            n += 1
    return path


def _sub(args: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--chunk-mib", type=int, default=8)
    parser.add_argument("--only", default=",".join(ADAPTERS))
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--drops", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return 0
    if args.client:
        adapter, mode, path, chunk, info = args.client
        print(json.dumps(client(adapter, mode, path, int(chunk), json.loads(info))))
        return 0
    if args.drops:
        adapter, path, chunk = args.drops
        print(json.dumps(drops(adapter, path, int(chunk))))
        return 0

    size, chunk = args.size_mib * MiB, args.chunk_mib * MiB
    path = _generate(size)
    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        info = server.stdout.readline().strip()
        print(f"# video upload: {args.size_mib} MiB file, {args.chunk_mib} MiB chunks, loopback emulator "
              f"in its own process; {os.cpu_count()} CPUs, shared machine (numbers are noisy)")
        print(f"RSS target: <= 2 x chunk + 32 MiB = {2 * args.chunk_mib + 32} MiB; CPU target: okru/hand <= 1.10\n")
        print("| adapter | okru CPU ms/MiB | hand CPU ms/MiB | ratio | okru MiB/s | okru RSS growth MiB "
              "| hand RSS growth MiB |")
        print("|---|---|---|---|---|---|---|")
        for adapter in args.only.split(","):
            okru = _sub(["--client", adapter, "okru", path, str(chunk), info])
            hand = _sub(["--client", adapter, "hand", path, str(chunk), info])
            per = 1000.0 / args.size_mib
            print(f"| {adapter} | {okru['cpu'] * per:.2f} | {hand['cpu'] * per:.2f} | "
                  f"{okru['cpu'] / hand['cpu']:.2f} | {args.size_mib / okru['wall']:.0f} | "
                  f"{okru['rss_growth']:.1f} | {hand['rss_growth']:.1f} |", flush=True)
        print("\n| adapter | 3 drops: complete, exact bytes | re-sent MiB | allowed MiB (3 chunks) |")
        print("|---|---|---|---|")
        for adapter in args.only.split(","):
            result = _sub(["--drops", adapter, path, str(chunk)])
            print(f"| {adapter} | {result['complete'] and not result['faults_left']} | "
                  f"{result['resent'] / MiB:.2f} | {result['max_allowed'] / MiB:.0f} |", flush=True)
    finally:
        server.terminate()
        server.wait()
        os.unlink(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
