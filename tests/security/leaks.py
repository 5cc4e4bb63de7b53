"""Where a secret could show, written out independently of okru's scrubber (``okru_proto._scrub``):
the spellings a server could echo it in, and every text an exception chain carries."""

from __future__ import annotations

import json
import traceback
from urllib.parse import quote, quote_plus

__all__ = ["chained", "spellings", "texts"]


def spellings(secret: str) -> set[str]:
    """``secret`` as a server could echo it: as is, URL-quoted (both ways, with and without
    ``safe``), JSON-escaped (ASCII or not) and with JSON's optional ``\\/``."""
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret, safe=""), quote_plus(secret),
            json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], secret.replace("/", "\\/")}


def chained(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it was raised from or during (``__cause__``/``__context__``,
    however deep), each once."""
    found: list[BaseException] = []
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        found.append(e)
        stack += [e.__cause__, e.__context__]
    return found


def texts(exc: BaseException) -> list[str]:
    """What a user could see of ``exc``: its whole traceback, and for each exception of its chain
    ``str``, ``repr``, its args and attributes, and the request an httpx error keeps."""
    out = ["".join(traceback.format_exception(exc))]
    for e in chained(exc):
        out += [str(e), repr(e), repr(e.args), repr(getattr(e, "__dict__", ""))]
        request = getattr(e, "_request", None)  # an httpx error keeps the request it failed on
        if request is not None:
            out += [repr(request), str(request.url)]
    return out
