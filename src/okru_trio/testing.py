"""Test helpers for trio (and any) code: the OK.ru emulator on a loopback HTTP/1.1 server.

    async with serve_fake(fake) as url:          # inside trio
        ...
    with run_fake_server(fake) as url:           # sync or asyncio tests (background thread)
        ...

``python -m okru_trio.testing --port 8080 [--tls-cert CERT --tls-key KEY]`` prints the URL.
"""

from __future__ import annotations

import sys

from ._fake_server import main, run_fake_server, serve_fake

__all__ = ["main", "run_fake_server", "serve_fake"]

if __name__ == "__main__":
    sys.exit(main())
