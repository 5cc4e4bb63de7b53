"""One worker process of the multi-process proofs: ``python _worker.py <store> <url> <calls>
<lease_ttl> <app_id> <app_key> <secret> <access> <refresh> [<timeout>]``; prints one JSON line.

``<store>`` is ``sqlite:<path>`` or ``redis:<url>``. The session is okru_httpx's async
ServerSession with ``store=``; it starts (adopting the stored token) and makes ``<calls>``
concurrent calls.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from okru_proto import Endpoints, Error


def make_store(spec: str, lease_ttl: float) -> Any:
    kind, _, where = spec.partition(":")
    if kind == "sqlite":
        from okru_stores import SQLiteStore

        return SQLiteStore(where, lease_ttl=lease_ttl, lease_wait=20.0)
    from okru_stores import RedisStore

    return RedisStore(where, lease_ttl=lease_ttl, lease_wait=20.0, timeout=2.0)


async def main(argv: list[str]) -> dict[str, Any]:
    import okru_httpx

    spec, url, calls, lease_ttl, app_id, app_key, secret, access, refresh, *rest = argv
    store = make_store(spec, float(lease_ttl))
    # timeout: the whole-call deadline, which a refresher's lease outlives by lease_ttl
    session = okru_httpx.ServerSession(app_id, app_key, secret, access, refresh_token=refresh,
                                       endpoints=Endpoints(api=url, connect=url), store=store, store_key="k",
                                       timeout=float(rest[0]) if rest else 60.0)
    outcome: dict[str, Any] = {"ok": 0, "errors": []}
    try:
        async with session:
            start = session.core.store_generation

            async def one() -> None:
                try:
                    result = await session.call("users.getCurrentUser")
                    assert result["uid"]
                    outcome["ok"] += 1
                except Error as exc:
                    outcome["errors"].append(f"{type(exc).__name__}: {exc}")

            await asyncio.gather(*(one() for _ in range(int(calls))))
            outcome["generations"] = [start, session.core.store_generation]
    except Error as exc:
        outcome["errors"].append(f"{type(exc).__name__}: {exc}")
    return outcome


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1:]))), flush=True)
