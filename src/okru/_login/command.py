"""``okru login`` and ``okru logout``: the commands, wiring the stored login and the callback.

``okru login`` runs the authorization-code grant through the browser (the loopback listener of
``_callback``) or, with ``--password``, the password grant; both store the result with
``_login.save_login``. The grants themselves are the core's and ``okru_httpx.sync``'s.
"""

from __future__ import annotations

import argparse
import re
import sys

from .._args import port_number
from .._creds import add_credentials, add_endpoints, resolve_credentials
from .._output import EXIT_CODES_HELP, EXIT_OK, CLIError, describe_error, mask

TYPE_CHECKING = False  # not typing's: `okru --help` imports this module; the core loads on use
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path
    from typing import Any

    from okru_proto import Endpoints, Token

    from .._creds import Credentials
    from .stored import StoredLogin

__all__ = ["cmd_login", "cmd_logout", "register"]


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
    return _granted(sync.PasswordSession(creds.app_id, creds.app_key, creds.app_secret_key,  # type: ignore[arg-type]
                                         login, password, endpoints=endpoints))


def _granted(session: Any) -> tuple[Token, Any]:
    """Enter a grant's session (the grant runs then), keep its token and ask who it belongs to
    (users.getCurrentUser), then close it: what a login stores and reports."""
    from okru_httpx import sync

    with session:
        token: Token | None = session.token
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

    from .callback import CallbackListener

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
            who = store(*_granted(sync.CodeSession(creds.app_id, creds.app_key, creds.app_secret_key,
                                                    callback.code, listener.redirect_uri, endpoints=endpoints)))
        except BaseException as exc:
            # The browser is still waiting for its page: it shows the terminal's own message.
            _, line = describe_error(exc, debug_hint=False)
            what, _, todo = line.removeprefix("okru: error: ").partition(" — ")
            callback.fail(what, todo or "see the terminal")
            raise
        callback.succeed(who)


def cmd_login(args: argparse.Namespace) -> int:
    from .stored import StoredLogin, save_login

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
    from .stored import credentials_path, remove_login

    path = credentials_path()
    if remove_login(path):
        print(f"Removed the stored login {path}.")
    else:
        print(f"No stored login at {path}: nothing to do.")
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``login`` and ``logout`` to the main parser's subcommands."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("login", parents=[common], formatter_class=fmt, epilog=EXIT_CODES_HELP,
                       help="log in through the browser (authorization-code grant) and store the tokens",
                       description="Print (and open) OK.ru's authorize URL, wait for the browser on a "
                       "loopback redirect URI, check state, exchange the code, and store the tokens in "
                       "a file only you can read; the browser then shows how it ended (logged in, "
                       "cancelled, or what failed). Real OK.ru needs the exact redirect URI registered "
                       "for your app: pass it with --redirect-uri (e.g. http://127.0.0.1:8765/callback). "
                       "--password --user LOGIN logs in without a browser (password grant).")
    add_credentials(p, token=False)
    add_endpoints(p)
    p.add_argument("--scope", action="append", metavar="SCOPE",
                   help="permission(s) to ask for, e.g. VALUABLE_ACCESS;PHOTO_CONTENT (default VALUABLE_ACCESS)")
    p.add_argument("--port", type=port_number, default=0, help="loopback port for the callback (default 0: any free port)")
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
