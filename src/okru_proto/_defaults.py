"""Transport defaults: every adapter's default limits live here, so they are the same everywhere.

Each adapter takes the same options with the same meanings and these defaults (docs/limits.md);
they are not OK.ru rules but okru's choice: generous enough for a photo upload's reply or a
large ``friends.get`` page, short enough that a stalled connection fails within a minute.
"""

from __future__ import annotations

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "DEFAULT_MAX_RESPONSE_BYTES", "DEFAULT_READ_TIMEOUT", "DEFAULT_TIMEOUT"]

#: ``timeout``: the whole-call deadline of one HTTP exchange (pool wait, connect, TLS, request,
#: every 1xx, head, body), seconds.
DEFAULT_TIMEOUT = 60.0
#: ``connect_timeout``: TCP connect + TLS handshake (the client the session creates itself).
DEFAULT_CONNECT_TIMEOUT = 10.0
#: ``read_timeout``: the longest wait for any single read or write (the session's own client).
DEFAULT_READ_TIMEOUT = 30.0
#: ``max_response_bytes``: the largest body accepted, as received and after gzip/deflate decoding.
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
