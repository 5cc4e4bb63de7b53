"""``okru login``/``logout``: the stored login (a 0600 JSON file) and the loopback callback.

The authorization-code grant for a person: the authorize URL (``okru_proto.authorize_url``) in
their browser, the browser comes back to ``http://127.0.0.1:<port>/callback``, the ``state`` is
checked and the code read by ``okru_proto.parse_callback``, and ``okru_httpx.sync.CodeSession``
exchanges it. Nothing here knows OK.ru's protocol; it only moves values between those.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from okru_proto import Error, Token, parse_callback

from ._output import EXIT_AUTH, EXIT_USAGE, CLIError

__all__ = [
    "CREDENTIALS_FILE",
    "CallbackListener",
    "StoredLogin",
    "config_dir",
    "credentials_path",
    "load_login",
    "remove_login",
    "save_login",
]

CREDENTIALS_FILE = "credentials.json"


def config_dir() -> Path:
    """``$OKRU_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/okru``, else ``~/.config/okru``."""
    override = os.environ.get("OKRU_CONFIG_DIR")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"
    return base / "okru"


def credentials_path() -> Path:
    return config_dir() / CREDENTIALS_FILE


@dataclass
class StoredLogin:
    """What ``okru login`` keeps: the app's credentials and the user's tokens."""

    app_id: str
    app_key: str
    app_secret_key: str
    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None
    permissions_granted: str | None = None
    api_url: str | None = None
    connect_url: str | None = None
    uid: str | None = None
    name: str | None = None
    saved_at: float | None = None

    def with_token(self, token: Token) -> StoredLogin:
        """A copy holding ``token`` (a refresh keeps the old refresh token when none comes)."""
        refresh = token.refresh_token.reveal() if token.refresh_token else self.refresh_token
        values = asdict(self)
        values.update(access_token=token.access_token.reveal(), refresh_token=refresh,
                      expires_at=token.expires_at, saved_at=time.time())
        if token.permissions_granted:
            values["permissions_granted"] = token.permissions_granted
        return StoredLogin(**values)

    def __repr__(self) -> str:  # never show the secrets
        return f"StoredLogin(app_id={self.app_id!r}, uid={self.uid!r}, api_url={self.api_url!r})"


def load_login(path: Path | None = None) -> StoredLogin | None:
    """The stored login, or None when there is none. A broken file is a clear error."""
    path = path or credentials_path()
    try:
        text = path.read_text(encoding="utf-8")
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            print(f"okru: warning: {path} is readable by other users; run `chmod 600 {path}`",
                  file=sys.stderr)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CLIError(f"cannot read the stored login {path}: {exc.strerror}",
                       "check its permissions, or run `okru logout` and `okru login` again") from exc
    try:
        data = json.loads(text)
        known = {f.name for f in fields(StoredLogin)}
        login = StoredLogin(**{k: v for k, v in data.items() if k in known})
        if not all(isinstance(getattr(login, k), str) and getattr(login, k)
                   for k in ("app_id", "app_key", "app_secret_key", "access_token")):
            raise TypeError("a field is missing")
    except (ValueError, TypeError, AttributeError) as exc:
        raise CLIError(f"the stored login {path} is damaged ({exc})",
                       "run `okru logout` and `okru login` again", EXIT_USAGE) from exc
    return login


def save_login(login: StoredLogin, path: Path | None = None) -> Path:
    """Write atomically, readable by the user only (file 0600 in a 0700 directory)."""
    path = path or credentials_path()
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if stat.S_IMODE(directory.stat().st_mode) & 0o077:
            directory.chmod(0o700)
    data = json.dumps(asdict(login), indent=2, ensure_ascii=False).encode("utf-8")
    tmp = directory / f".{path.name}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def remove_login(path: Path | None = None) -> bool:
    """Delete the stored login; False when there was none."""
    path = path or credentials_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


# -- the loopback listener for the browser's callback --------------------------------------------

_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>okru login</title></head>
<body style="font-family: sans-serif; margin: 3em"><h1>{title}</h1><p>{text}</p></body></html>"""


def _page(title: str, text: str) -> bytes:
    return _PAGE.format(title=html.escape(title), text=html.escape(text)).encode("utf-8")


class CallbackListener:
    """An HTTP server on a loopback address that waits for ``GET <path>?code=...&state=...``.

    ``redirect_uri`` is what to register with OK.ru and put in the authorize URL; :meth:`wait`
    returns the code (``state`` checked by ``okru_proto.parse_callback``) or raises.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, path: str = "/callback",
                 redirect_uri: str | None = None) -> None:
        if redirect_uri is not None:
            parts = urlsplit(redirect_uri)
            if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
                raise CLIError(f"--redirect-uri {redirect_uri!r} is not a loopback http:// URI",
                               "okru listens on this machine: use http://127.0.0.1:PORT/PATH "
                               "(registered for your app on OK.ru)")
            host = "127.0.0.1" if parts.hostname == "localhost" else parts.hostname
            port = parts.port or 80
            path = parts.path or "/"
        self.path = path
        self._result: str | BaseException | None = None
        self._done = threading.Event()
        self._expected_state: str | None = None
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the browser's requests carry the code: never log them

        family_host = host
        try:
            self._server = HTTPServer((family_host, port), Handler)
        except OSError as exc:
            raise CLIError(f"cannot listen on {host}:{port} for the callback: {exc.strerror}",
                           "pick another --port (0 = any free port)") from exc
        bound = self._server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.redirect_uri = redirect_uri or f"http://{shown}:{bound}{path}"

    def expect_state(self, state: str) -> None:
        self._expected_state = state

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        if urlsplit(request.path).path != self.path or self._done.is_set():
            request.send_response(404)
            request.send_header("Content-Type", "text/plain; charset=utf-8")
            request.end_headers()
            request.wfile.write(b"not found")
            return
        try:
            code = parse_callback(request.path, expected_state=self._expected_state)
        except Error as exc:
            self._result = exc
            status, body = 400, _page("Login failed", f"{exc}. You can close this tab.")
        else:
            self._result = code
            status, body = 200, _page("Logged in", "okru got the authorization. You can close this tab.")
        request.send_response(status)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
        self._done.set()

    def wait(self, timeout: float, progress: Callable[[float], None] | None = None) -> str:
        """Serve until the callback arrives (the code) or ``timeout`` seconds pass (error)."""
        deadline = time.monotonic() + timeout
        self._server.timeout = 0.5
        last_tick = time.monotonic()
        while not self._done.is_set():
            now = time.monotonic()
            if now >= deadline:
                raise CLIError(f"no callback from the browser within {timeout:g} s",
                               "open the printed URL and allow access, or raise --timeout", EXIT_AUTH)
            if progress is not None and now - last_tick >= 10:
                last_tick = now
                progress(deadline - now)
            self._server.handle_request()
        result = self._result
        if isinstance(result, BaseException):
            raise result
        assert isinstance(result, str)
        return result

    def close(self) -> None:
        self._server.server_close()

    @contextlib.contextmanager
    def running(self) -> Iterator[CallbackListener]:
        try:
            yield self
        finally:
            self.close()
