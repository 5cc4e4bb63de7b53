"""What OK.ru sends an app's own server, read and checked: the signed GET parameters of an
iframe launch and of a ``callbacks.payment`` call (docs/protocol.md §13.1).

Both are signed the same way, and OK spells out neither set: okru signs every parameter that
arrived except ``sig``, sorted by name as every other OK signature (§2.4), ``name=value`` joined
with nothing between, followed by the application secret key; MD5 of the UTF-8 bytes, lower-case
hex (okru's choice, the one public implementations make, §13.1). A duplicated name, an empty
name, text that is not UTF-8, or more parameters than :data:`MAX_PARAMS` is refused: OK sends
each name once, so a repeat can only be a forgery trying to make two readers see two values.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from hashlib import md5
from urllib.parse import unquote

__all__ = ["MAX_PARAMS", "MAX_QUERY", "BadParams", "digest_matches", "md5_hex", "read_params", "same_text", "sig_of"]

#: More parameters than this is not OK (a launch carries about 20, a payment about 15).
MAX_PARAMS = 100
#: A longer query string is not OK's (bounded work before anything is checked).
MAX_QUERY = 16 * 1024


class BadParams(ValueError):
    """The parameters cannot be read; the message names the problem, never a value."""


def read_params(params: Mapping[str, str] | str) -> dict[str, str]:
    """``params`` as a fresh ``name -> value`` dict.

    A mapping is copied as given (a web framework's decoded query: names and values are str, as
    its type says; a name that is not is refused where it is signed, :func:`sig_of`, and a value
    is signed as its text, ``f"{value}"``); a str is a query string, with or without
    the leading ``?``, or a whole URL or path with its query (a ``#fragment`` dropped),
    percent-encoded, ``+`` meaning a space as in any form-encoded query."""
    if type(params) is dict:
        out = params.copy()
    elif isinstance(params, str):
        return _parse_query(params)
    elif isinstance(params, Mapping):
        out = dict(params)
    else:
        raise BadParams(f"parameters must be a mapping or a query string, not {type(params).__name__}")
    if len(out) > MAX_PARAMS:
        raise BadParams(f"more than {MAX_PARAMS} parameters")
    if "" in out:
        raise BadParams("a parameter has an empty name")
    return out


def _parse_query(text: str) -> dict[str, str]:
    head, mark, rest = text.partition("?")
    if mark and (not head or "://" in head or head.startswith("/")):
        text = rest  # "?a=1", a whole URL, or a path with its query
    text = text.split("#", 1)[0]
    if len(text) > MAX_QUERY:
        raise BadParams(f"the query string is longer than {MAX_QUERY} characters")
    if text.count("&") >= MAX_PARAMS:  # parse_qsl's max_num_fields rule: separators + 1
        raise BadParams(f"more than {MAX_PARAMS} parameters")
    # What parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict") returns,
    # without its two function calls per name and value: this runs on every payment callback,
    # where it was most of the cost. A part is decoded only when it holds "+" or "%".
    # tests/core/apps/test_query_parsing.py holds the two equal.
    out: dict[str, str] = {}
    try:
        for part in text.split("&"):
            if not part:
                continue
            name, _, value = part.partition("=")
            if "+" in name:
                name = name.replace("+", " ")
            if "%" in name:
                name = unquote(name, errors="strict")
            if "+" in value:
                value = value.replace("+", " ")
            if "%" in value:
                value = unquote(value, errors="strict")
            if name in out:
                raise BadParams(f"parameter {name!r} appears twice")
            out[name] = value
    except UnicodeDecodeError:
        raise BadParams("the query string's percent-encoded text is not UTF-8") from None
    if "" in out:
        raise BadParams("a parameter has an empty name")
    return out


def md5_hex(text: str) -> str:
    """Lower-case hex MD5 of ``text``'s UTF-8 bytes (lone surrogates, which no real parameter
    holds, are encoded as themselves: the digest then simply never matches)."""
    try:
        return md5(text.encode()).hexdigest()
    except UnicodeEncodeError:
        return md5(text.encode("utf-8", "surrogatepass")).hexdigest()


def _utf16(name: str) -> bytes:
    return name.encode("utf-16-be", "surrogatepass")


def sig_of(params: Mapping[str, str], secret: str) -> str:
    """The ``sig`` OK puts on ``params``: every name but ``sig``, in OK's order (names by UTF-16
    code unit as Java sorts them, §2.4, the rule of ``okru_proto.sign``; ASCII names sort the same
    as plain ``sorted``, so the UTF-16 key is taken only when a name beyond the BMP exists).

    Raises :class:`BadParams` when a name is not a str (values are written as text: the ones of
    a query string are; a mapping's must be, as its type says)."""
    try:
        names = sorted(params)
        text = "".join([f"{name}={params[name]}" for name in names if name != "sig"])
        if not text.isascii():  # rare: only then can the two orders differ
            joined = "".join(names)
            if max(joined) > "\uffff":
                names.sort(key=_utf16)
                text = "".join([f"{name}={params[name]}" for name in names if name != "sig"])
    except TypeError:
        raise BadParams("parameter names must be str (a query string's decoded text)") from None
    text += secret
    try:
        return md5(text.encode()).hexdigest()
    except UnicodeEncodeError:  # a lone surrogate, which no real parameter holds: it never matches
        return md5(text.encode("utf-8", "surrogatepass")).hexdigest()


def digest_matches(expected: str, received: str) -> bool:
    """``received`` (hex, any case) equals ``expected`` (lower-case hex), compared in constant
    time: a timing difference must not tell a forger how many leading characters are right."""
    try:
        return hmac.compare_digest(expected, received.lower())  # str: ASCII only, else TypeError
    except TypeError:
        return False  # not ASCII, or not a str: not a hex digest


def same_text(expected: str, received: str) -> bool:
    """``received == expected`` exactly, in constant time (an application key)."""
    if not isinstance(received, str):
        return False
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), received.encode("utf-8", "surrogatepass"))
