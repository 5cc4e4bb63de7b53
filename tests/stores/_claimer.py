"""One claiming process of the multi-process once-record proofs:
``python _claimer.py <store> <key> <ttl>``, where ``<store>`` is ``sqlite:<path>`` or
``redis:<url>``. It builds its store, prints ``ready``, waits for a line on stdin (the start
signal, so every process claims at once), claims ``<key>`` with its pid as holder, prints the
status as one JSON line, then waits for the next line: ``finish <outcome>``, ``release`` or
``exit`` (a process told nothing more just sits there, holding its claim, until killed).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def make_store(spec: str) -> Any:
    kind, _, where = spec.partition(":")
    if kind == "sqlite":
        from okru_stores import SQLiteStore

        return SQLiteStore(where)
    from okru_stores import RedisStore

    return RedisStore(where, timeout=5.0)


def main(spec: str, key: str, ttl: str) -> None:
    store = make_store(spec)
    holder = f"pid-{os.getpid()}"
    print("ready", flush=True)
    sys.stdin.readline()
    claim = store.claim(key, holder, float(ttl))
    print(json.dumps({"status": claim.status, "outcome": claim.outcome}), flush=True)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "finish":
            print(json.dumps({"finished": store.finish(key, holder, argument, 3600)}), flush=True)
        elif command == "release":
            store.release(key, holder)
            print(json.dumps({"released": True}), flush=True)
        elif command == "claim":
            claim = store.claim(key, holder, float(ttl))
            print(json.dumps({"status": claim.status, "outcome": claim.outcome}), flush=True)
        else:
            return


if __name__ == "__main__":
    main(*sys.argv[1:])
