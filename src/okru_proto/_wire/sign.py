"""Wire strings, the OK.ru signature and which secret signs a call (docs/protocol.md §2).

One function (:func:`wire_value`) turns a Python value into the exact string that is sent; the
signature is computed over those same strings, so what is signed is always what is sent (the
peers' classic error 104: signing ``str(True)`` while sending ``true``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from enum import Enum
from hashlib import md5
from typing import Any, Literal

from .._errors import UsageError
from .._values import Secret, reveal

__all__ = [
    "CIRCUITS",
    "SESSION_CLASSES",
    "UNSIGNED_PARAMS",
    "Circuit",
    "canonical_string",
    "circuit_for",
    "circuit_for_signing",
    "java_key_order",
    "server_secret",
    "session_for",
    "sign",
    "sign_pairs",
    "signing_secret",
    "wire_params",
    "wire_value",
]


#: Never part of the signed string: ``sig`` itself, the OAuth ``access_token`` (every source),
#: and ``resig`` (apps_sdk ``Utils.calcSignature``). ``session_key`` IS signed when sent, as
#: every official SDK does (docs/protocol.md §2.3).
UNSIGNED_PARAMS = frozenset({"sig", "access_token", "resig"})

_SCALARS = (str, int, float, Enum)


def _json(value: object) -> str:
    try:
        # Compact and UTF-8 as-is: ok-js-sdk sends JSON.stringify output (docs/protocol.md §2.5).
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"cannot send {type(value).__name__} as JSON: {exc}") from None


def _scalar(value: object, key: str) -> str:
    if isinstance(value, Enum):
        return _scalar(value.value, key)
    if isinstance(value, bool):
        # OK docs write booleans lower-case; str(True) would be signed as "True" (TV-9).
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UsageError(f"parameter {key!r}: {value!r} cannot be sent")
        return float.__repr__(value)
    if isinstance(value, str):
        return str.__str__(value)
    raise UsageError(
        f"parameter {key!r}: cannot send a {type(value).__name__}; pass str, int, float, bool, "
        "a list of those, or a dict / list of dicts (sent as JSON)"
    )


def wire_value(value: object, key: str = "?") -> str | None:
    """The wire string for one parameter value, or None when the parameter is to be omitted.

    str as is; int/float as written; bool ``true``/``false``; list/tuple/set of scalars
    comma-joined (sets sorted, so the result is stable); dict, or a list holding a dict or list,
    compact JSON keeping non-ASCII; None omits the parameter. ``0``, ``False`` and ``""`` are
    kept and sent.
    """
    if value is None:
        return None
    t = type(value)
    if t is str:
        return value  # type: ignore[return-value]
    if t is dict or isinstance(value, Mapping):
        return _json(dict(value))  # type: ignore[call-overload]
    if t in (list, tuple, set, frozenset) or isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)  # type: ignore[call-overload]
        if any(isinstance(item, (Mapping, list, tuple, set, frozenset)) for item in items):
            return _json([dict(i) if isinstance(i, Mapping) else i for i in items])
        strings = []
        for item in items:
            if item is None:
                raise UsageError(f"parameter {key!r}: a list must not hold None")
            strings.append(_scalar(item, key))
        if t in (set, frozenset) or isinstance(value, (set, frozenset)):
            strings.sort()
        return ",".join(strings)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise UsageError(f"parameter {key!r}: pass text (str), not bytes")
    return _scalar(value, key)


def wire_params(params: Mapping[str, object]) -> dict[str, str]:
    """Every parameter as its wire string; None values dropped, falsy values kept."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if type(key) is not str or not key:
            raise UsageError(f"parameter names must be non-empty str, got {key!r}")
        if type(value) is str:
            out[key] = value
            continue
        wired = wire_value(value, key)
        if wired is not None:
            out[key] = wired
    return out


def _utf16_units(item: tuple[str, str]) -> bytes:
    # Big-endian UTF-16 bytes compare as the sequence of UTF-16 code units (surrogatepass: a
    # lone surrogate sorts by its unit too; signing refuses it later with a UsageError).
    return item[0].encode("utf-16-be", "surrogatepass")


def java_key_order(wired: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(name, value)`` pairs sorted as OK.ru sorts them for the signature: by UTF-16 code unit.

    OK's servers and its JS/Android/iOS SDKs sort with Java's ``String.compareTo`` (or JS string
    comparison), which compares UTF-16 code units, not code points (docs/protocol.md §2.1). The
    two orders differ only when a name holds a character beyond the BMP (a surrogate pair,
    D800..DFFF) and another name differs there by a character in U+E000..U+FFFF: Java puts the
    pair first. ASCII-only names (every real OK parameter) sort the same either way, so the
    common path is a plain ``sorted`` and the UTF-16 key is taken only when a non-BMP name exists.
    """
    pairs = sorted(wired.items())
    names = "".join(wired)
    if not names.isascii() and max(names) > "\uffff":
        pairs.sort(key=_utf16_units)
    return pairs


def canonical_string(params: Mapping[str, object]) -> str:
    """The string OK.ru signs, before the secret: ``k=v`` of the signed params sorted by key
    (UTF-16 code units, as Java sorts: :func:`java_key_order`), no separator. Values are the
    decoded wire strings (never URL-encoded, docs/protocol.md §2.5)."""
    return _canonical(java_key_order(wire_params(params)))


def _canonical(pairs: list[tuple[str, str]]) -> str:
    # The one place the signed text is built; every signer (sign, prepare_call) goes through it.
    return "".join([f"{k}={v}" for k, v in pairs if k not in UNSIGNED_PARAMS])


def _md5_hex(text: str, what: str) -> str:
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} holds text that is not valid Unicode (a lone surrogate?)") from None
    return md5(data).hexdigest()


def sign(params: Mapping[str, object], secret: Secret | str) -> str:
    """The OK.ru ``sig``: lower-case hex MD5 of :func:`canonical_string` + ``secret``, UTF-8.

    ``secret`` is the session secret (client-server), :func:`server_secret` (server-server) or
    the app secret (session-less calls); docs/protocol.md §2.2.
    """
    return sign_pairs(java_key_order(wire_params(params)), secret)


def sign_pairs(pairs: list[tuple[str, str]], secret: Secret | str, what: str = "a parameter") -> str:
    """The ``sig`` of wire pairs already in :func:`java_key_order`: what :func:`sign` computes,
    for callers (:func:`~okru_proto.adapter.prepare_call`) that keep the sorted pairs to encode them.
    ``what`` names the parameters in the error for text that is not valid Unicode."""
    return _md5_hex(_canonical(pairs) + reveal(secret), what)


def server_secret(access_token: Secret | str, app_secret_key: Secret | str) -> Secret:
    """The server-server circuit's secret: ``md5(access_token + app_secret_key)``, lower hex.

    The app secret is used verbatim (case kept); only the digest is lower-case (§2.2).
    """
    return Secret(_md5_hex(reveal(access_token) + reveal(app_secret_key), "the token or app secret"))


# -- Circuits: everything that decides which secret signs a call lives here (docs/protocol.md §2.2) ----


#: A circuit's name, as :func:`circuit_for` returns it.
Circuit = Literal["client", "server", "app", "public", "unauthorized"]
#: Every circuit name, in the order of preference :func:`circuit_for` applies.
CIRCUITS: tuple[Circuit, ...] = ("client", "server", "app", "public", "unauthorized")


def circuit_for(*, access_token: Secret | str | None = None, session_secret_key: Secret | str | None = None,
                app_secret_key: Secret | str | None = None, authorizing: bool = False) -> Circuit:
    """The circuit these credentials sign in: a token with a session secret is ``client``, a token
    without one ``server``; no token is ``unauthorized`` while a grant is pending
    (``authorizing=True``), else ``app`` with the app secret and ``public`` without."""
    if reveal(access_token):
        return "client" if reveal(session_secret_key) else "server"
    if authorizing:
        return "unauthorized"
    return "app" if reveal(app_secret_key) else "public"


def circuit_for_signing(*, access_token: Secret | str | None = None,
                        session_secret_key: Secret | str | None = None,
                        app_secret_key: Secret | str | None = None) -> Circuit:
    """The circuit to compute a sig in when no call is made (``okru sign``, checking an error 104
    by hand): :func:`circuit_for`, except that a ``session_secret_key`` alone picks ``client``.
    The client circuit's secret is that key; its access token is sent beside the sig, never mixed
    into the secret (docs/protocol.md §2.2), so the sig can be computed without it."""
    if reveal(session_secret_key):
        return "client"
    return circuit_for(access_token=access_token, app_secret_key=app_secret_key)


#: The session class that holds credentials of each circuit, by the name every adapter
#: (``okru_httpx``, ``okru_httpx.sync``, ``okru_trio``) exports it under. ``unauthorized`` has
#: none: it is a grant session (``CodeSession``, ``PasswordSession``, ...) before its grant ran.
SESSION_CLASSES: dict[Circuit, str] = {
    "client": "ClientSession",
    "server": "ServerSession",
    "app": "AppSession",
    "public": "PublicSession",
}


def session_for(sessions: Any, *, app_id: int | str | None = None, app_key: str | None = None,
                app_secret_key: str | None = None, access_token: str | None = None,
                session_secret_key: str | None = None, refresh_token: str | None = None,
                **options: Any) -> Any:
    """A session (not yet entered) of the adapter namespace ``sessions`` (e.g. ``okru_httpx.sync``)
    for credentials already held: the class :data:`SESSION_CLASSES` names for the circuit
    :func:`circuit_for` picks, built with the credentials that circuit uses. ``refresh_token`` goes
    to a ``server`` session (OK.ru's refresh grant needs the app secret, which only that circuit
    holds); ``options`` are the session's keyword options.

    Raises :class:`~okru_proto.UsageError` when the credentials cannot sign in their circuit (a
    token with neither ``session_secret_key`` nor ``app_secret_key``)."""
    circuit = circuit_for(access_token=access_token, session_secret_key=session_secret_key,
                          app_secret_key=app_secret_key)
    signing_secret(circuit, access_token=access_token, session_secret_key=session_secret_key,
                   app_secret_key=app_secret_key)
    cls = getattr(sessions, SESSION_CLASSES[circuit])
    if circuit == "client":
        return cls(app_id, app_key, access_token, session_secret_key, **options)
    if circuit == "server":
        return cls(app_id, app_key, app_secret_key, access_token, refresh_token=refresh_token, **options)
    if circuit == "app":
        return cls(app_id, app_key, app_secret_key, **options)
    return cls(app_key=app_key, **options)


def signing_secret(circuit: Circuit, *, access_token: Secret | str | None = None,
                   session_secret_key: Secret | str | None = None,
                   app_secret_key: Secret | str | None = None) -> Secret | None:
    """The secret appended to the canonical string in ``circuit`` (None: the call is unsigned).

    Raises :class:`~okru_proto.UsageError` when the circuit's secret cannot be made from what is
    given (e.g. ``server`` without ``app_secret_key``)."""
    if circuit == "client":
        if not reveal(session_secret_key):
            raise UsageError("the client-server circuit signs with the token's session_secret_key; it is empty")
        return Secret(reveal(session_secret_key))
    if circuit == "server":
        if not reveal(access_token) or not reveal(app_secret_key):
            raise UsageError("a token without a session_secret_key is used in the server-server circuit, "
                             "which needs app_secret_key")
        return server_secret(reveal(access_token), reveal(app_secret_key))
    if circuit == "app":
        if not reveal(app_secret_key):
            raise UsageError("the session-less circuit signs with app_secret_key; it is empty")
        return Secret(reveal(app_secret_key))
    if circuit in ("public", "unauthorized"):
        return None
    raise UsageError(f"unknown circuit {circuit!r}; one of {', '.join(CIRCUITS)}")
