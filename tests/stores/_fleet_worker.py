"""One worker process of the fleet proofs, driven line by line:
``python _fleet_worker.py <store> <url> <app_id> <app_key> <secret> <access> <refresh>
<lease_ttl> <timeout>``. ``<store>`` is ``sqlite:<path>`` or ``redis:<url>``. It builds an
okru_httpx.sync ServerSession with the store (store_key "k"), authorizes, prints ``ready``; then
for each ``call`` line on stdin makes one call and prints one JSON line: ``ok``, ``error``,
``token`` (a digest of the access token it holds) and ``generation``.

Only names that okru 0.1 had too are used, so the same script measures the old code (the
"before" figures of docs/workers.md) when run with that code on PYTHONPATH.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

import okru_httpx.sync
from okru_proto import Endpoints, Error


def make_store(spec: str, lease_ttl: float) -> Any:
    kind, _, where = spec.partition(":")
    if kind == "sqlite":
        from okru_stores import SQLiteTokenStore

        return SQLiteTokenStore(where, lease_ttl=lease_ttl)
    from okru_stores import RedisTokenStore

    return RedisTokenStore(where, lease_ttl=lease_ttl, timeout=5.0)


def main(argv: list[str]) -> None:
    spec, url, app_id, app_key, secret, access, refresh, lease_ttl, timeout = argv
    session = okru_httpx.sync.ServerSession(
        app_id, app_key, secret, access, refresh_token=refresh, endpoints=Endpoints(api=url, connect=url),
        store=make_store(spec, float(lease_ttl)), store_key="k", timeout=float(timeout))
    session.authorize()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "call":
            break
        outcome: dict[str, Any] = {"ok": False, "error": None}
        try:
            outcome["ok"] = session.call("users.getCurrentUser")["uid"] is not None
        except Error as exc:
            outcome["error"] = f"{type(exc).__name__}: {exc}"
        token = session.access_token or ""
        outcome["token"] = hashlib.sha256(token.encode()).hexdigest()[:12]
        outcome["generation"] = session.core.store_generation
        print(json.dumps(outcome), flush=True)
    session.close()


if __name__ == "__main__":
    main(sys.argv[1:])
