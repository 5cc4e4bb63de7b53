"""The ``okru`` command: argparse, the subcommands, credentials, errors as one line.

All OK.ru knowledge (signing, grants, parsing, errors) comes from ``okru_proto``; requests go
through ``okru_httpx.sync``; the emulator is ``okru_proto.testing`` served by ``okru_trio``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence

from . import __version__
from ._output import (
    EXIT_AUTH,
    EXIT_BROKEN_PIPE,
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CLIError,
    WaitNotice,
    describe_error,
    dump_json,
    mask,
    prepare_stdout,
    stdout_is_closed,
)

# Not typing.TYPE_CHECKING: importing typing costs start-up time (mypy treats any constant of
# this name as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, NoReturn

    from okru_proto import Endpoints, Secret, Token

    from ._login import StoredLogin

# Start-up time matters for a command (`okru --help` should feel instant): this module imports
# only argparse and the output helpers at load time; the core, the adapters and the login
# machinery are imported inside the subcommand that needs them.

__all__ = ["build_parser", "parse_params", "run"]

ENV = {
    "app_id": "OKRU_APP_ID",
    "app_key": "OKRU_APP_KEY",
    "app_secret_key": "OKRU_APP_SECRET_KEY",
    "access_token": "OKRU_ACCESS_TOKEN",
    "session_secret_key": "OKRU_SESSION_SECRET_KEY",
    "api_url": "OKRU_API_URL",
    "connect_url": "OKRU_CONNECT_URL",
}
_CREDENTIAL_FIELDS = ("app_id", "app_key", "app_secret_key", "access_token", "session_secret_key")
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")

DESCRIPTION = """\
The OK.ru (Odnoklassniki) API from the command line: signed calls, the OAuth login, signature
debugging, and a local OK.ru emulator. Start with `okru demo`: it needs no credentials."""

EPILOG = EXIT_CODES_HELP + """
credentials (okru call / sign / login), first found wins: the flags, then the environment
(OKRU_APP_ID, OKRU_APP_KEY, OKRU_APP_SECRET_KEY, OKRU_ACCESS_TOKEN, OKRU_SESSION_SECRET_KEY,
OKRU_API_URL, OKRU_CONNECT_URL), then the login stored by `okru login` (used only when no
credential comes from flags or environment). The stored login lives in
$OKRU_CONFIG_DIR or $XDG_CONFIG_HOME/okru or ~/.config/okru (credentials.json, mode 0600).
Secrets are never printed: tokens show as `dwip…***`, keys as `***`. docs/cli.md has more."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one ``okru: error:`` line (exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise CLIError(message, f"see `{self.prog} --help`", EXIT_USAGE)


# -- parameters ------------------------------------------------------------------------------------

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


# -- credentials -----------------------------------------------------------------------------------

class Credentials:
    """What a subcommand signs with. A plain class, not a dataclass: importing dataclasses costs
    a tenth of `okru --help`'s start-up, and a generated repr would show the secrets."""

    def __init__(self, *, app_id: str | None = None, app_key: str | None = None,
                 app_secret_key: str | None = None, access_token: str | None = None,
                 session_secret_key: str | None = None, refresh_token: str | None = None,
                 api_url: str | None = None, connect_url: str | None = None,
                 stored: StoredLogin | None = None) -> None:
        self.app_id = app_id
        self.app_key = app_key
        self.app_secret_key = app_secret_key
        self.access_token = access_token
        self.session_secret_key = session_secret_key
        self.refresh_token = refresh_token
        self.api_url = api_url
        self.connect_url = connect_url
        self.stored = stored

    def __repr__(self) -> str:
        return f"<Credentials circuit={self.circuit} app_id={self.app_id}>"

    @property
    def circuit(self) -> str:
        if self.access_token and self.session_secret_key:
            return "client"
        if self.access_token:
            return "server"
        if self.app_secret_key:
            return "app"
        return "public"

    def endpoints(self) -> Endpoints:
        from okru_proto import Endpoints, UsageError

        api = self.api_url or "https://api.ok.ru"
        # The emulator serves both: --connect-url follows --api-url unless given.
        connect = self.connect_url or (self.api_url if self.api_url else "https://connect.ok.ru")
        try:
            return Endpoints(api=api, connect=connect)
        except UsageError as exc:
            # The core's message names Endpoints.api/.connect: say which option that was.
            text = str(exc).replace("Endpoints.api", "--api-url").replace("Endpoints.connect", "--connect-url")
            raise CLIError(text, "use https://, or http:// only for a loopback emulator") from exc


def _from_flags_or_env(args: argparse.Namespace, name: str) -> str | None:
    value = getattr(args, name, None)
    if value:
        return str(value)
    env = os.environ.get(ENV[name])
    return env or None


def resolve_credentials(args: argparse.Namespace, *, use_stored: bool = True) -> Credentials:
    """Flags, then environment; the stored login only when neither gives any credential."""
    get = _from_flags_or_env
    creds = Credentials(app_id=get(args, "app_id"), app_key=get(args, "app_key"),
                        app_secret_key=get(args, "app_secret_key"), access_token=get(args, "access_token"),
                        session_secret_key=get(args, "session_secret_key"), api_url=get(args, "api_url"),
                        connect_url=get(args, "connect_url"))
    if use_stored and not any(getattr(creds, name) for name in _CREDENTIAL_FIELDS):
        from ._login import load_login

        stored = load_login()
        if stored is not None:
            creds.app_id, creds.app_key = stored.app_id, stored.app_key
            creds.app_secret_key, creds.access_token = stored.app_secret_key, stored.access_token
            creds.refresh_token, creds.stored = stored.refresh_token, stored
            creds.api_url = creds.api_url or stored.api_url
            creds.connect_url = creds.connect_url or stored.connect_url
    return creds


def open_session(creds: Credentials, *, http_method: str = "POST", timeout: float | None = None,
                 on_token: Callable[[Token], object] | None = None) -> Any:
    """The ``okru_httpx.sync`` session for the credentials' circuit (not yet entered)."""
    from okru_httpx import sync

    options: dict[str, Any] = {"endpoints": creds.endpoints(), "http_method": http_method}
    if timeout is not None:
        options["timeout"] = timeout
    circuit = creds.circuit
    if circuit != "public" and not creds.app_key:
        raise CLIError("no application key", "pass --app-key or set OKRU_APP_KEY (the app's public key)")
    if circuit == "client":
        return sync.ClientSession(creds.app_id, creds.app_key, creds.access_token, creds.session_secret_key,  # type: ignore[arg-type]
                                  **options)
    if circuit == "server":
        if not creds.app_secret_key:
            raise CLIError("an access token alone cannot sign a call",
                           "add --session-secret-key (client-server circuit) or --app-secret-key "
                           "(server-server circuit), or set OKRU_SESSION_SECRET_KEY / OKRU_APP_SECRET_KEY")
        if on_token is not None:
            options["on_token"] = on_token
        return sync.ServerSession(creds.app_id, creds.app_key, creds.app_secret_key, creds.access_token,  # type: ignore[arg-type]
                                  refresh_token=creds.refresh_token, **options)
    if circuit == "app":
        return sync.AppSession(creds.app_id, creds.app_key, creds.app_secret_key, **options)  # type: ignore[arg-type]
    if not creds.app_key:
        raise CLIError("no credentials",
                       "pass --app-key (and --app-secret-key / --access-token ...), set OKRU_APP_KEY etc., "
                       "or run `okru login`; `okru demo` needs none")
    return sync.PublicSession(app_key=creds.app_key, **options)


# -- subcommands -----------------------------------------------------------------------------------

def cmd_call(args: argparse.Namespace) -> int:
    from okru_proto.adapter import API
    from okru_proto.errors import SignatureError

    from ._login import save_login

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


_SECRET_FLAGS = {
    "client": ("the session secret key", "--access-token … --session-secret-key …"),
    "server": ("md5(access_token + app_secret_key)", "--access-token … --app-secret-key …"),
    "app": ("the app secret key", "--app-secret-key …"),
    "public": ("no secret at all (unsigned)", "--secret …"),
}


def _sign_hint(args: argparse.Namespace, creds: Credentials) -> str:
    which, flags = _SECRET_FLAGS[creds.circuit]
    import shlex

    params = " ".join(shlex.quote(p) for p in args.params)
    command = f"okru sign --method {shlex.quote(args.method)} --app-key {shlex.quote(creds.app_key or '…')}"
    if params:
        command += f" {params}"
    return (f"the call was signed in the {creds.circuit} circuit with {which}; check that secret. "
            f"OK showed the string it signed; compare with: {command} {flags}")


def _secret_for_signing(args: argparse.Namespace) -> tuple[Secret, str]:
    from okru_proto import Secret
    from okru_proto.adapter import server_secret

    if args.secret:
        return Secret(args.secret), "the given --secret"
    creds = resolve_credentials(args, use_stored=False)
    if creds.session_secret_key:
        return Secret(creds.session_secret_key), "session_secret_key (client-server circuit)"
    if creds.access_token and creds.app_secret_key:
        return (server_secret(creds.access_token, creds.app_secret_key),
                "md5(access_token + app_secret_key) (server-server circuit)")
    if creds.app_secret_key:
        return Secret(creds.app_secret_key), "app_secret_key (session-less circuit)"
    raise CLIError("okru sign needs a secret",
                   "pass --secret S, --session-secret-key S, or --app-secret-key K [--access-token T] "
                   "(or the OKRU_* variables)")


def cmd_sign(args: argparse.Namespace) -> int:
    from urllib.parse import parse_qsl

    from okru_proto import Endpoints, sign
    from okru_proto.adapter import canonical_string, prepare_call

    params = parse_params(args.params)
    secret, which = _secret_for_signing(args)
    if args.method:
        app_key = _from_flags_or_env(args, "app_key")
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


def _split_scopes(values: Sequence[str]) -> list[str]:
    scopes: list[str] = []
    for value in values:
        scopes += [s for s in re.split(r"[;,\s]+", value) if s]
    return scopes


def _read_password(login: str) -> str:
    """The password from a prompt (a terminal, not echoed) or one line of piped stdin; never argv."""
    import getpass

    if sys.stdin is not None and sys.stdin.isatty():
        try:
            password = getpass.getpass(f"OK.ru password for {login}: ")
        except EOFError:
            password = ""
    else:
        line = sys.stdin.readline() if sys.stdin is not None else ""
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
    if not password:
        raise CLIError("no password given",
                       "type it at the prompt, or pipe it on stdin: `okru login --password --user LOGIN < file`")
    return password


def _password_token(args: argparse.Namespace, creds: Credentials, endpoints: Endpoints) -> tuple[Token, Any]:
    from okru_httpx import sync

    login = args.user
    if not login:
        if not (sys.stdin is not None and sys.stdin.isatty()):
            raise CLIError("okru login --password needs --user LOGIN when stdin is not a terminal",
                           "pass --user (the password then comes from stdin, one line)")
        login = input("OK.ru login (name, email or phone): ").strip()
        if not login:
            raise CLIError("no login given", "pass --user LOGIN")
    password = _read_password(login)
    print(f"Logging in as {login} with the password grant (auth.login)...", flush=True)
    session = sync.PasswordSession(creds.app_id, creds.app_key, creds.app_secret_key, login,  # type: ignore[arg-type]
                                   password, endpoints=endpoints)
    with session:
        token = session.token
        assert token is not None
        me = sync.API(session).users.getCurrentUser()
    return token, me


def _browser_login(args: argparse.Namespace, creds: Credentials, endpoints: Endpoints,
                   store: Callable[[Token, Any], str]) -> None:
    """The authorization-code grant in the browser; ``store(token, me)`` saves the login and
    returns who logged in. The browser's page shows the outcome only once it is known."""
    import secrets
    import webbrowser

    from okru_httpx import sync
    from okru_proto import authorize_url

    from ._login import CallbackListener

    assert creds.app_id and creds.app_key and creds.app_secret_key
    scopes = _split_scopes(args.scope or ["VALUABLE_ACCESS"])
    state = secrets.token_urlsafe(24)
    listener = CallbackListener(port=args.port, redirect_uri=args.redirect_uri, state=state)
    with listener.running():
        url = authorize_url(creds.app_id, redirect_uri=listener.redirect_uri, scope=scopes, state=state,
                            endpoints=endpoints)
        print("Open this URL in a browser and allow access:", flush=True)
        print(f"  {url}", flush=True)
        if not args.no_browser:
            try:
                opened = webbrowser.open(url)
            except Exception:  # a broken browser setup must not stop the login
                opened = False
            print("(opened in your browser)" if opened else "(could not open a browser: copy the URL)",
                  flush=True)
        print(f"Waiting for the browser to come back to {listener.redirect_uri} "
              f"(up to {args.timeout:g} s; Ctrl-C cancels)...", flush=True)

        def progress(left: float) -> None:
            print(f"  still waiting for the browser ({left:.0f} s left)...", file=sys.stderr, flush=True)

        callback = listener.wait(args.timeout, progress)
        try:
            print("Got the authorization code (state checked); exchanging it for a token...", flush=True)
            session = sync.CodeSession(creds.app_id, creds.app_key, creds.app_secret_key, callback.code,
                                       listener.redirect_uri, endpoints=endpoints)
            with session:
                token = session.token
                assert token is not None
                me = sync.API(session).users.getCurrentUser()
            who = store(token, me)
        except BaseException as exc:
            # The browser is still waiting for its page: it shows the terminal's own message.
            _, line = describe_error(exc, debug_hint=False)
            what, _, todo = line.removeprefix("okru: error: ").partition(" — ")
            callback.fail(what, todo or "see the terminal")
            raise
        callback.succeed(who)


def cmd_login(args: argparse.Namespace) -> int:
    from ._login import StoredLogin, save_login

    creds = resolve_credentials(args, use_stored=False)
    missing = [f"--{n.replace('_', '-')}" for n in ("app_id", "app_key", "app_secret_key") if not getattr(creds, n)]
    if missing:
        raise CLIError(f"okru login needs {', '.join(missing)}",
                       "pass them or set OKRU_APP_ID, OKRU_APP_KEY, OKRU_APP_SECRET_KEY (your app on OK.ru)")
    assert creds.app_id and creds.app_key and creds.app_secret_key
    if args.user and not args.password:
        raise CLIError("--user goes with --password", "add --password, or drop --user for the browser login")
    endpoints = creds.endpoints()
    saved: list[tuple[StoredLogin, Path]] = []

    def store(token: Token, me: Any) -> str:
        """Both ways store the same thing: app credentials, the token, the URLs, who it is."""
        assert creds.app_id and creds.app_key and creds.app_secret_key
        login = StoredLogin(app_id=creds.app_id, app_key=creds.app_key, app_secret_key=creds.app_secret_key,
                            access_token=token.access_token.reveal(),
                            api_url=creds.api_url, connect_url=creds.connect_url or creds.api_url)
        login = login.with_token(token)
        name = me.get("name") if isinstance(me, dict) else None
        login.uid = str(me.get("uid")) if isinstance(me, dict) and me.get("uid") else token.uid
        login.name = str(name) if name else None
        saved.append((login, save_login(login)))
        return f"{login.name} (uid {login.uid})" if login.name else f"uid {login.uid}"

    if args.password:
        store(*_password_token(args, creds, endpoints))
    else:
        _browser_login(args, creds, endpoints, store)
    login, path = saved[0]
    who = f"{login.name} (uid {login.uid})" if login.name else f"uid {login.uid}"
    print(f"Logged in as {who}; token {mask(login.access_token)} saved to {path} (readable only by you).")
    print("`okru call METHOD ...` now uses it; `okru logout` removes it.")
    return EXIT_OK


def cmd_logout(args: argparse.Namespace) -> int:
    from ._login import credentials_path, remove_login

    path = credentials_path()
    if remove_login(path):
        print(f"Removed the stored login {path}.")
    else:
        print(f"No stored login at {path}: nothing to do.")
    return EXIT_OK


def _positive_speed(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text!r}")
    return value


def _http_status(text: str) -> int:
    if not text.isdigit() or not 200 <= int(text) <= 599:
        raise argparse.ArgumentTypeError(f"must be an HTTP status from 200 to 599, not {text!r}")
    return int(text)


def _emulator_clock(args: argparse.Namespace) -> tuple[Any, str]:
    """The fake-server's clock and a line describing it. Real time by default: people log in
    and wait, so codes and tokens must age as on OK.ru (docs/protocol.md §3.1, §3.5)."""
    import time

    from okru_proto.testing import FakeClock, WallClock

    if args.clock == "frozen":
        if args.clock_speed is not None:
            raise CLIError("--clock-speed needs the wall clock", "drop --clock frozen, or --clock-speed")
        return FakeClock(start=time.time()), "frozen (codes and tokens never expire)"
    speed = args.clock_speed or 1.0
    ages = "codes live 2 minutes, access tokens 30 minutes, refresh tokens 30 days"
    if speed == 1.0:
        return WallClock(), f"wall clock ({ages})"
    return WallClock(speed), f"wall clock x{speed:g} ({ages} of emulator time)"


def cmd_fake_server(args: argparse.Namespace) -> int:
    import contextlib
    import ssl
    import threading

    from okru_proto.testing import FakeOK
    from okru_trio.testing import run_fake_server

    if bool(args.tls_cert) != bool(args.tls_key):
        raise CLIError("--tls-cert and --tls-key go together", "pass both PEM files, or neither")
    context: ssl.SSLContext | None = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise CLIError(f"cannot load the TLS certificate/key: {exc}", "pass PEM files") from exc
    clock, clock_text = _emulator_clock(args)
    fake = FakeOK(seed=args.seed, clock=clock)
    fake.oauth_error_status = args.oauth_error_status
    try:
        server = run_fake_server(fake, host=args.host, port=args.port, ssl_context=context)
        bound = server.__enter__()
    except OSError as exc:
        raise _listen_error(exc, args.host, args.port) from exc
    with contextlib.ExitStack() as stack:
        stack.push(server)
        url = usable_url(bound)
        if url != bound:
            print(f"listening on {bound} (every address of this machine); from here use {url}",
                  file=sys.stderr, flush=True)
        print(url, flush=True)
        print(f"OK.ru emulator on {url} (Ctrl-C stops it). Its demo app and user (public demo values, "
              "not secrets):", flush=True)
        print(f"  app_id={fake.app_id} app_key={fake.app_key} app_secret_key={fake.app_secret_key}", flush=True)
        print(f"  user_login={fake.user_login} user_password={fake.user_password} user_id={fake.user_id}",
              flush=True)
        print(f"Clock: {clock_text}; token.do errors use HTTP {fake.oauth_error_status}.", flush=True)
        print(f"Try: okru login --api-url {url} --app-id {fake.app_id} --app-key {fake.app_key} "
              f"--app-secret-key {fake.app_secret_key}", flush=True)
        print(f"  (no browser: add --password --user {fake.user_login}; the password is asked for)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            # 130 = 128 + SIGINT, as a shell reports a command stopped by Ctrl-C.
            print("stopped", file=sys.stderr, flush=True)
            return EXIT_INTERRUPTED
    return EXIT_OK  # not reached: only Ctrl-C (or a signal) ends the wait


def usable_url(url: str) -> str:
    """``url`` with a wildcard host (0.0.0.0, ::) replaced by the loopback address of the same
    family: a server listens on a wildcard, but a client cannot connect to it (and okru allows
    plain http only to loopback)."""
    scheme, sep, rest = url.partition("://")
    host, colon, port = rest.rpartition(":")
    loopback = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "::": "[::1]", "": "127.0.0.1"}.get(host)
    if not sep or not colon or loopback is None:
        return url
    return f"{scheme}://{loopback}:{port}"


def _listen_error(exc: OSError, host: str, port: int) -> CLIError:
    import errno
    import socket

    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return CLIError(f"cannot listen on {where}: the port is in use (another okru fake-server?)",
                        "pick another --port, or --port 0 for any free port")
    if exc.errno == errno.EACCES:
        return CLIError(f"cannot listen on {where}: permission denied (ports below 1024 need privileges)",
                        "use a port above 1023, or --port 0 for any free port")
    if exc.errno == errno.EADDRNOTAVAIL:
        return CLIError(f"cannot listen on {where}: {host} is not an address of this machine",
                        "use --host 127.0.0.1 (the default)")
    if isinstance(exc, socket.gaierror):
        return CLIError(f"cannot listen on {where}: unknown host {host!r}", "use --host 127.0.0.1 (the default)")
    return CLIError(f"cannot listen on {where}: {exc.strerror or exc}", "try --port 0 or another --host")


def cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return run_demo(verbose=args.verbose, faults=args.fault or [])


# -- the parser ------------------------------------------------------------------------------------

def _add_credentials(p: argparse.ArgumentParser, *, token: bool = True) -> None:
    g = p.add_argument_group("credentials (else OKRU_* environment variables, else the stored login)")
    g.add_argument("--app-id", help="the app's numeric id (OKRU_APP_ID)")
    g.add_argument("--app-key", help="the app's public key (OKRU_APP_KEY)")
    g.add_argument("--app-secret-key", help="the app's secret key (OKRU_APP_SECRET_KEY)")
    if token:
        g.add_argument("--access-token", help="a user's access token (OKRU_ACCESS_TOKEN)")
        g.add_argument("--session-secret-key",
                       help="the token's session secret: client-server circuit (OKRU_SESSION_SECRET_KEY)")


def _add_endpoints(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api-url", help="REST/OAuth base URL (OKRU_API_URL; default https://api.ok.ru; "
                   "plain http only for loopback, e.g. the emulator)")
    p.add_argument("--connect-url", help="OAuth dialog base URL (OKRU_CONNECT_URL; default: --api-url "
                   "when given, else https://connect.ok.ru)")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks and the okru logger's DEBUG lines on stderr")
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(prog="okru", description=DESCRIPTION, epilog=EPILOG, formatter_class=fmt,
                     parents=[common])
    parser.add_argument("--version", action="version", version=f"okru {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    p = sub.add_parser("demo", parents=[common], formatter_class=fmt, epilog=EXIT_CODES_HELP,
                       help="walk through every grant and call against a local emulator (no credentials)",
                       description="Start the OK.ru emulator on loopback and walk through every grant, "
                       "the three signing circuits, parameters, errors, refresh, upload and paging.")
    p.add_argument("-v", "--verbose", action="store_true", help="show every parameter and full results")
    p.add_argument("--fault", action="append", metavar="METHOD=FAULT",
                   help="inject an emulator fault on every call of METHOD (e.g. users.getInfo=service, "
                   "/oauth/token.do=http_502) to see how failures look; repeatable")
    p.set_defaults(func=cmd_demo)

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
    _add_credentials(p)
    _add_endpoints(p)
    p.set_defaults(func=cmd_call)

    p = sub.add_parser("login", parents=[common], formatter_class=fmt, epilog=EXIT_CODES_HELP,
                       help="log in through the browser (authorization-code grant) and store the tokens",
                       description="Print (and open) OK.ru's authorize URL, wait for the browser on a "
                       "loopback redirect URI, check state, exchange the code, and store the tokens in "
                       "a file only you can read; the browser then shows how it ended (logged in, "
                       "cancelled, or what failed). Real OK.ru needs the exact redirect URI registered "
                       "for your app: pass it with --redirect-uri (e.g. http://127.0.0.1:8765/callback). "
                       "--password --user LOGIN logs in without a browser (password grant).")
    _add_credentials(p, token=False)
    _add_endpoints(p)
    p.add_argument("--scope", action="append", metavar="SCOPE",
                   help="permission(s) to ask for, e.g. VALUABLE_ACCESS;PHOTO_CONTENT (default VALUABLE_ACCESS)")
    p.add_argument("--port", type=int, default=0, help="loopback port for the callback (default 0: any free port)")
    p.add_argument("--redirect-uri", help="the loopback redirect URI registered for your app")
    p.add_argument("--no-browser", action="store_true", help="only print the URL")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the browser (default 300)")
    p.add_argument("--password", action="store_true",
                   help="no browser: log in with the password grant (auth.login; the emulator, or apps "
                   "OK.ru allows it). The password comes from a prompt, or one line of stdin when piped")
    p.add_argument("--user", metavar="LOGIN", help="with --password: the login name, email or phone")
    p.set_defaults(func=cmd_login)

    p = sub.add_parser("logout", parents=[common], help="remove the stored login")
    p.set_defaults(func=cmd_logout)

    p = sub.add_parser("sign", parents=[common], formatter_class=fmt, epilog=EXIT_CODES_HELP,
                       help="show the canonical string and sig for parameters (debug error 104)",
                       description="Show what OK.ru signs: the canonical string (secret masked) and the "
                       "sig. With --method (and --app-key) the parameters are completed exactly as "
                       "`okru call` sends them.")
    p.add_argument("params", nargs="*", metavar="key=value|key:=json")
    p.add_argument("--method", help="complete the parameters as a REST call of METHOD")
    p.add_argument("--secret", help="the secret to append, as is")
    _add_credentials(p)
    p.set_defaults(func=cmd_sign)

    p = sub.add_parser("fake-server", parents=[common], formatter_class=fmt,
                       help="run the OK.ru emulator on loopback until Ctrl-C",
                       description="Run the OK.ru emulator (okru_proto.testing.FakeOK). The first "
                       "output line is its base URL; then the demo app and user.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="default 0: an ephemeral port")
    p.add_argument("--tls-cert", help="PEM certificate chain (serves https)")
    p.add_argument("--tls-key", help="PEM private key for --tls-cert")
    p.add_argument("--seed", type=int, default=0, help="seed for the emulator's tokens and ids")
    p.add_argument("--clock", choices=("wall", "frozen"), default="wall",
                   help="wall (default): codes and tokens age in real time as on OK.ru; frozen: time "
                   "stands still at the start, nothing ever expires")
    p.add_argument("--clock-speed", type=_positive_speed, metavar="N",
                   help="run the wall clock N times as fast (e.g. 60: a 30-minute token expires in 30 s)")
    p.add_argument("--oauth-error-status", type=_http_status, default=400, metavar="STATUS",
                   help="HTTP status of token.do's JSON errors (default 400; OK.ru's is not documented, "
                   "try 200 too)")
    p.set_defaults(func=cmd_fake_server)
    from ._bot_cli import add_bot_parser
    from ._video_cli import register as add_video_parsers

    add_bot_parser(sub, [common])
    add_video_parsers(sub, common, fmt, EXIT_CODES_HELP, _add_credentials, _add_endpoints, open_session,
                      resolve_credentials)
    return parser


def _log() -> Any:
    import logging

    return logging.getLogger("okru.cli")


def _setup_debug() -> None:
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
    logger = logging.getLogger("okru")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand: the exit code (errors are one line on stderr)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    prepare_stdout()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        debug = bool(getattr(args, "debug", False))
        if debug:
            _setup_debug()
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
    except BrokenPipeError as exc:
        if not stdout_is_closed():
            return _report(exc, debug)
        # The reader went away (`okru demo | head -3`): stop quietly, like cat or yes killed by
        # SIGPIPE, with the shell's 128 + 13. Further writes (the final flush) go nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    except (Exception, KeyboardInterrupt) as exc:
        return _report(exc, debug)


def _report(exc: BaseException, debug: bool) -> int:
    """Print ``exc`` as one ``okru: error:`` line (its traceback too with --debug); the exit code."""
    if debug:
        import traceback

        traceback.print_exception(exc)
    code, line = describe_error(exc, debug_hint=not debug)
    print(line, file=sys.stderr, flush=True)
    return code
