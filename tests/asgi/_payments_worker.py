"""One game server process for the fleet tests: payments_app under uvicorn, its outcomes in a
shared store (SQLite file or Redis), its handler asking the test what to do.

    python _payments_worker.py --store sqlite:/path/db | redis://127.0.0.1:PORT/0 --control PORT --ledger PATH

Prints ``READY <callback url>`` once it listens. For each payment the handler connects to the
test's control port, says ``started <pid> <transaction_id>``, and waits for the answer: ``go``
credits (appends ``<pid> <transaction_id>`` to the ledger file), ``fail`` raises.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--control", type=int, required=True)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--claim-ttl", type=float, default=4.0)
    parser.add_argument("--busy-wait", type=float, default=2.0)
    args = parser.parse_args()

    import uvicorn

    from okru_asgi import payments_app
    from okru_proto.apps import Payment
    from okru_proto.testing import FakeOK
    from okru_stores import RedisStore, SQLiteStore

    store = (SQLiteStore(args.store.removeprefix("sqlite:")) if args.store.startswith("sqlite:")
             else RedisStore(args.store))

    def handler(payment: Payment) -> None:
        with socket.create_connection(("127.0.0.1", args.control), timeout=120) as conn:
            conn.sendall(f"started {os.getpid()} {payment.transaction_id}\n".encode())
            answer = conn.makefile().readline().strip()
        if answer != "go":
            raise RuntimeError(f"told {answer!r}")
        with open(args.ledger, "a", encoding="utf-8") as ledger:
            ledger.write(f"{os.getpid()} {payment.transaction_id}\n")

    app = payments_app(handler, app_secret_key=FakeOK.app_secret_key, application_key=FakeOK.app_key,
                       store=store, trusted_proxies=["127.0.0.1"], claim_ttl=args.claim_ttl,
                       busy_wait=args.busy_wait, timeout=60.0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    print(f"READY http://127.0.0.1:{sock.getsockname()[1]}/ok/payment", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False,
                                  lifespan="on")).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
