"""The stored login of ``okru login``: a 0600 JSON file of the app's credentials and the tokens.

Where it lives (``$OKRU_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/okru``, else ``~/.config/okru``),
:class:`StoredLogin` (its fields; a repr without secrets), and reading, atomic writing and
removing it. The browser's callback during the login is ``_callback``'s.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from okru_proto import Token

from .._output import EXIT_USAGE, CLIError

__all__ = [
    "CREDENTIALS_FILE",
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
