"""``okru call`` and ``okru sign``: one signed REST call, and the signature it would carry.

Both read ``key=value`` / ``key:=json`` parameters (:func:`parse_params`) and the credentials of
``_creds``. The circuit and its secret are the core's (``okru_proto.adapter.circuit_for_signing``,
``signing_secret``); this module only words them for a person (a 104 hint, ``okru sign``'s lines).
"""

from __future__ import annotations

import argparse
import re
import sys

from ._creds import add_credentials, add_endpoints, from_flags_or_env, open_session, resolve_credentials
from ._output import EXIT_AUTH, EXIT_CODES_HELP, EXIT_OK, CLIError, WaitNotice, dump_json, mask

TYPE_CHECKING = False  # not typing's: `okru --help` imports this module; the core loads on use
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from okru_proto import Secret, Token
    from okru_proto.adapter import Circuit

    from ._creds import Credentials

__all__ = ["cmd_call", "cmd_sign", "parse_params", "register", "register_sign"]

_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def parse_params(items: Sequence[str]) -> dict[str, object]:
    """``key=value`` (a string) and ``key:=json`` (a JSON value: ``uids:=[1,2]``, ``flag:=true``)."""
    params: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or key == ":":
            raise CLIError(f"bad parameter {item!r}: expected key=value or key:=json",
                           "e.g. uids=1,2 fields=name  or  uids:=[1,2] emptyPictures:=false")
        parsed: object = value
        if key.endswith(":"):
            import json

            key = key[:-1]
            try:
                parsed = json.loads(value)
            except ValueError as exc:
                raise CLIError(f"bad JSON for parameter {key!r}: {exc}",
                               "quote it for the shell, e.g. 'attachment:={\"media\": []}'") from None
        if not _PARAM_NAME.match(key):
            raise CLIError(f"bad parameter name {key!r}", "names are letters, digits, _ . -")
        if key in params:
            raise CLIError(f"parameter {key!r} given twice", "give each parameter once")
        params[key] = parsed
    return params


def _log() -> Any:
    import logging

    return logging.getLogger("okru.cli")


def cmd_call(args: argparse.Namespace) -> int:
    from okru_proto.adapter import API
    from okru_proto.errors import SignatureError

    from ._login.stored import save_login

    params = parse_params(args.params)
    creds = resolve_credentials(args)
    creds.endpoints()  # validate the URLs before anything else
    stored = creds.stored

    def persist(token: Token) -> None:
        if stored is not None:
            save_login(stored.with_token(token))
            _log().info("the stored login got a refreshed token")

    session = open_session(creds, http_method="GET" if args.get else "POST", timeout=args.timeout,
                           on_token=persist if stored is not None else None)
    host = creds.endpoints().api.split("://", 1)[-1]
    limit = f"up to {args.timeout:g} s a request" if args.timeout else "10 s a request by default"
    try:
        with WaitNotice(f"okru: waiting for {host} ({limit}; Ctrl-C cancels)..."), session:
            result = API(session)(args.method, params)
    except SignatureError as exc:
        if creds.circuit == "public":
            # OK.ru answers 104 "No signature specified" to an unsigned call of a method that
            # needs one: a user method (a session) or a session-less one (the app secret).
            raise CLIError(f"{args.method} needs a user session (OK.ru refused the unsigned call: {exc})",
                           "log in once with `okru login` (later calls use the stored login), or pass "
                           "--access-token with --session-secret-key or --app-secret-key; a method "
                           "called without a session needs --app-secret-key", EXIT_AUTH) from exc
        raise CLIError(str(exc), _sign_hint(args, creds), EXIT_AUTH) from exc
    print(dump_json(result))
    return EXIT_OK


# Words for a person, per circuit: the secret the core signed with (okru_proto.adapter
# .signing_secret computes it) and the options of `okru sign` that supply the same secret.
_SECRET_FLAGS: dict[Circuit, tuple[str, str]] = {
    "client": ("the session secret key", "--access-token … --session-secret-key …"),
    "server": ("md5(access_token + app_secret_key)", "--access-token … --app-secret-key …"),
    "app": ("the app secret key", "--app-secret-key …"),
    "public": ("no secret at all (unsigned)", "--secret …"),
    "unauthorized": ("no secret at all (unsigned)", "--secret …"),
}
#: How `okru sign` names the secret it used, per circuit.
_SECRET_LABELS: dict[Circuit, str] = {
    "client": "session_secret_key (client-server circuit)",
    "server": "md5(access_token + app_secret_key) (server-server circuit)",
    "app": "app_secret_key (session-less circuit)",
}


def _sign_hint(args: argparse.Namespace, creds: Credentials) -> str:
    circuit = creds.circuit
    which, flags = _SECRET_FLAGS[circuit]
    import shlex

    params = " ".join(shlex.quote(p) for p in args.params)
    command = f"okru sign --method {shlex.quote(args.method)} --app-key {shlex.quote(creds.app_key or '…')}"
    if params:
        command += f" {params}"
    return (f"the call was signed in the {circuit} circuit with {which}; check that secret. "
            f"OK showed the string it signed; compare with: {command} {flags}")


def _secret_for_signing(args: argparse.Namespace) -> tuple[Secret, str]:
    from okru_proto import Secret, UsageError
    from okru_proto.adapter import circuit_for_signing, signing_secret

    if args.secret:
        return Secret(args.secret), "the given --secret"
    creds = resolve_credentials(args, use_stored=False)
    held = {"access_token": creds.access_token, "session_secret_key": creds.session_secret_key,
            "app_secret_key": creds.app_secret_key}
    circuit = circuit_for_signing(**held)
    try:
        secret = signing_secret(circuit, **held)
    except UsageError:
        secret = None  # a token alone: nothing to sign with
    if secret is None:
        raise CLIError("okru sign needs a secret",
                       "pass --secret S, --session-secret-key S, or --app-secret-key K [--access-token T] "
                       "(or the OKRU_* variables)")
    return secret, _SECRET_LABELS[circuit]


def cmd_sign(args: argparse.Namespace) -> int:
    from urllib.parse import parse_qsl

    from okru_proto import Endpoints, sign
    from okru_proto.adapter import canonical_string, prepare_call

    params = parse_params(args.params)
    secret, which = _secret_for_signing(args)
    if args.method:
        app_key = from_flags_or_env(args, "app_key")
        # Exactly what `okru call` would send: the core adds application_key, format, method.
        request = prepare_call(args.method, params, app_key=app_key, endpoints=Endpoints(), secret=secret)
        form = request.body.decode("ascii")  # type: ignore[union-attr]  # a REST call's body is bytes
        signed: dict[str, object] = {k: v for k, v in parse_qsl(form, keep_blank_values=True) if k != "sig"}
    else:
        signed = dict(params)
    text = canonical_string(signed)
    sig = sign(signed, secret)
    print(f"canonical string: {text}")
    print(f"signed string:    {text}<secret>   (MD5 of this, UTF-8)")
    print(f"secret:           {which} = {mask(secret.reveal(), hint=False)}")
    print(f"sig:              {sig}")
    if not args.method and "method" not in params:
        print("note: a REST call also signs application_key, format=json and method; add "
              "--method METHOD --app-key KEY to include them as `okru call` does", file=sys.stderr)
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``call`` and ``sign`` to the main parser's subcommands."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("call", parents=[common], formatter_class=fmt, epilog=EXIT_CODES_HELP,
                       help="make one signed REST call and print the JSON result",
                       description="Make one signed REST call. Parameters: key=value (a string) or "
                       "key:=json (a JSON value: uids:=[1,2] emptyPictures:=false 'attachment:={...}'). "
                       "The circuit follows the credentials: --session-secret-key -> client-server, "
                       "--access-token + --app-secret-key -> server-server, --app-secret-key only -> "
                       "session-less, --app-key only -> unsigned.")
    p.add_argument("method", metavar="METHOD", help="e.g. users.getCurrentUser")
    p.add_argument("params", nargs="*", metavar="key=value|key:=json")
    p.add_argument("--get", action="store_true", help="send GET instead of POST")
    p.add_argument("--timeout", type=float, help="seconds per HTTP exchange, the whole of it (default 60)")
    add_credentials(p)
    add_endpoints(p)
    p.set_defaults(func=cmd_call)


def register_sign(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``sign`` (after ``login``/``logout``, where ``okru --help`` lists it)."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("sign", parents=[common], formatter_class=fmt, epilog=EXIT_CODES_HELP,
                       help="show the canonical string and sig for parameters (debug error 104)",
                       description="Show what OK.ru signs: the canonical string (secret masked) and the "
                       "sig. With --method (and --app-key) the parameters are completed exactly as "
                       "`okru call` sends them.")
    p.add_argument("params", nargs="*", metavar="key=value|key:=json")
    p.add_argument("--method", help="complete the parameters as a REST call of METHOD")
    p.add_argument("--secret", help="the secret to append, as is")
    add_credentials(p)
    p.set_defaults(func=cmd_sign)
