"""Cross-cutting: one behaviour, written once, on every adapter of the one matrix (tests/adapters.py).

Each sub-folder is one concept (calls and grants, photos and paging, video, bots, stores); a test
takes the ``adapter`` fixture, or ``env``/``wired_env`` for a session wired to the emulator, and
runs on httpx-sync, httpx-asyncio, httpx-trio and okru_trio.
"""
