"""What the command prints: masked secrets, exit codes, one-line errors, and how it prints on
streams that are not a UTF-8 terminal (an ASCII-only stdout, a closed pipe, a "waiting" notice
only on a terminal).

Loads nothing but the standard library's basics at import (the core is imported when an error is
described), so ``okru --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

TYPE_CHECKING = False  # not typing's: importing typing costs start-up time; mypy takes either
if TYPE_CHECKING:
    from typing import IO, Any

__all__ = [
    "ASCII_MARKS",
    "EXIT_API",
    "EXIT_AUTH",
    "EXIT_BROKEN_PIPE",
    "EXIT_CODES_HELP",
    "EXIT_DEMO",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TRANSPORT",
    "EXIT_USAGE",
    "CLIError",
    "WaitNotice",
    "can_encode",
    "describe_error",
    "dump_json",
    "mask",
    "mask_params",
    "one_line",
    "prepare_stdout",
    "stdout_is_closed",
]

EXIT_OK = 0
EXIT_API = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_TRANSPORT = 4
EXIT_DEMO = 5
EXIT_INTERRUPTED = 130
#: 128 + SIGPIPE: what a shell shows for `cat` or `yes` when the reader of their pipe is gone.
EXIT_BROKEN_PIPE = 141

EXIT_CODES_HELP = """\
exit codes:
  0    success
  1    OK.ru answered with an API error (error_code in the reply)
  2    usage: bad arguments, bad key=value, missing or inconsistent credentials
  3    authorization: OAuth error, login refused or timed out, wrong signature (104),
       invalid/expired session (101, 102, 103, 401-403, 453)
  4    transport or protocol: connection failed, timeout, HTML or garbage instead of JSON
  5    okru demo: at least one step failed
  130  interrupted (Ctrl-C)
  141  the reader of stdout went away (`okru demo | head -3`): okru stops quietly
"""

#: API error codes that mean "your credentials are wrong or gone" (exit 3, not 1).
_AUTH_CODES = frozenset({101, 102, 103, 104, 401, 402, 403, 453})

#: Parameter names masked on top of the core's SECRET_PARAM_NAMES.
_EXTRA_SECRET_NAMES = frozenset({"app_secret_key", "secret", "st.token"})
#: Credentials shown with their first 4 characters (tokens and codes, which are long and random);
#: keys, secrets and passwords are shown as *** alone.
_HINTED_NAMES = frozenset({"access_token", "refresh_token", "session_key", "code", "auth_token"})


class CLIError(Exception):
    """A failure the command explains itself: ``what`` happened, ``todo`` says what to do."""

    def __init__(self, what: str, todo: str = "", code: int = EXIT_USAGE) -> None:
        super().__init__(what)
        self.what = what
        self.todo = todo
        self.code = code


def mask(value: object, *, hint: bool = True) -> str:
    """A credential as ``dwip…***`` (``hint``: its first 4 characters, only when it is long
    enough that 4 characters give nothing away), else ``***``; empty stays empty."""
    text = "" if value is None else str(value)
    if not text:
        return ""
    if hint and len(text) >= 16:
        return f"{text[:4]}…***"
    return "***"


def is_secret_name(name: str) -> bool:
    from okru_proto.adapter import SECRET_PARAM_NAMES

    return name in SECRET_PARAM_NAMES or name in _EXTRA_SECRET_NAMES


def mask_params(params: dict[str, str], *, short_sig: bool = True) -> dict[str, str]:
    """``params`` with credential values masked (and ``sig`` shortened unless told not to)."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if is_secret_name(key):
            out[key] = mask(value, hint=key in _HINTED_NAMES)
        elif key == "sig" and short_sig and len(value) > 8:
            out[key] = value[:8] + "…"
        else:
            out[key] = value
    return out


def one_line(text: str) -> str:
    """Collapse whitespace so an error is always exactly one line."""
    return " ".join(text.split())


def dump_json(value: Any, *, indent: int | None = 2) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, indent=indent)


# -- streams -----------------------------------------------------------------------------------------

#: The non-ASCII marks okru prints, and what replaces them on a stream that cannot encode them.
ASCII_MARKS = {"✔": "+", "✘": "x", "→": "->", "←": "<-", "…": "...", "—": "--"}
_ASCII_TABLE = str.maketrans(ASCII_MARKS)
#: Marks plus Cyrillic: a stream that encodes all of this needs no fallback.
_PROBE = "".join(ASCII_MARKS) + "Привет"


def can_encode(stream: IO[str], text: str = "".join(ASCII_MARKS)) -> bool:
    """Whether ``stream`` can write ``text`` (default: okru's marks) without an encoding error."""
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return True  # a StringIO and the like take any str
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def for_stream(text: str, stream: IO[str]) -> str:
    """``text`` with okru's marks replaced by ASCII when ``stream`` cannot encode them."""
    return text if can_encode(stream) else text.translate(_ASCII_TABLE)


def prepare_stdout(stream: IO[str] | None = None) -> None:
    """Make a stdout that cannot encode everything (``PYTHONIOENCODING=ascii``, a C locale)
    write what it cannot encode as ``\\u`` escapes instead of failing mid-output."""
    stream = sys.stdout if stream is None else stream
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None and not can_encode(stream, _PROBE):
        reconfigure(errors="backslashreplace")


def stdout_is_closed() -> bool:
    """Whether the reading end of stdout's pipe is gone (a ``BrokenPipeError`` came from it, not
    from some socket): poll reports POLLERR on a pipe's write end once no reader is left."""
    import select

    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return True  # no usable stdout at all: nothing more can be printed either


class WaitNotice:
    """``with WaitNotice("okru: waiting for api.ok.ru..."):`` shows that line on a terminal's
    stderr once the block has run ``delay`` seconds, and erases it when the block ends; on a
    stderr that is not a terminal (a pipe, a file, a test) it prints nothing at all.

    ``start_timer(delay, callback) -> cancel`` runs ``callback`` once after ``delay`` seconds
    (default: a daemon ``threading.Timer``); tests pass their own to fire it without waiting."""

    def __init__(self, message: str, *, stream: IO[str] | None = None, delay: float = 1.0,
                 start_timer: Callable[[float, Callable[[], None]], Callable[[], None]] | None = None) -> None:
        self.message = message
        self.stream = sys.stderr if stream is None else stream
        self.delay = delay
        self._start_timer = start_timer or _thread_timer
        self.shown = False
        self._done = False
        self._cancel: Callable[[], None] | None = None
        self._lock: Any = None

    def _is_terminal(self) -> bool:
        try:
            return bool(self.stream.isatty())
        except (OSError, ValueError, AttributeError):
            return False

    def __enter__(self) -> WaitNotice:
        if self._is_terminal():
            import threading

            self._lock = threading.Lock()
            self._cancel = self._start_timer(self.delay, self._show)
        return self

    def _show(self) -> None:
        with self._lock:
            if self._done:
                return
            self.stream.write(for_stream(self.message, self.stream))
            self.stream.flush()
            self.shown = True

    def __exit__(self, *exc_info: object) -> None:
        if self._lock is None:
            return
        with self._lock:
            self._done = True
            if self._cancel is not None:
                self._cancel()
            if self.shown:
                self.stream.write("\r\x1b[K")  # back to the line's start, erase it
                self.stream.flush()


def _thread_timer(delay: float, callback: Callable[[], None]) -> Callable[[], None]:
    import threading

    timer = threading.Timer(delay, callback)
    timer.daemon = True
    timer.start()
    return timer.cancel


def describe_error(exc: BaseException, *, debug_hint: bool = True, command: str = "okru") -> tuple[int, str]:
    """(exit code, ``okru: error: <what> — <what to do>``) for any exception; ``command`` is the
    command line's subcommand (``okru upload-video``), named where the fix is in its ``--help``."""
    from okru_proto import (
        APIError,
        Error,
        OAuthError,
        ProtocolError,
        ReloginRequiredError,
        SessionExpiredError,
        TransportError,
        TransportTimeout,
        UsageError,
    )
    from okru_proto.errors import SessionRequiredError, SignatureError, StateMismatchError

    todo: str
    if isinstance(exc, CLIError):
        code, what, todo = exc.code, exc.what, exc.todo
    elif isinstance(exc, SignatureError):
        code, what = EXIT_AUTH, str(exc)
        todo = ("the secret does not match the circuit (session secret for client-server, "
                "md5(access_token + app_secret_key) for server-server, the app secret for "
                "session-less calls); OK showed the string it signed: compare with `okru sign "
                "--method METHOD key=value ...` using the same credentials")
    elif isinstance(exc, SessionExpiredError):
        code, what = EXIT_AUTH, str(exc)
        todo = "the token expired and there is no refresh token to renew it: run `okru login` again"
    elif isinstance(exc, (ReloginRequiredError, SessionRequiredError)):
        code, what = EXIT_AUTH, str(exc)
        todo = f"{exc.action}: run `okru login` or pass --access-token with its secret"
    elif isinstance(exc, APIError):
        code = EXIT_AUTH if exc.code in _AUTH_CODES else EXIT_API
        what = str(exc)
        todo = exc.action
        if exc.data not in (None, ""):
            what += f" (error_data: {exc.data})"
    elif isinstance(exc, StateMismatchError):
        code, what = EXIT_AUTH, f"OAuth: {exc}"
        todo = ("the answer belongs to another login attempt (an old browser tab) or was forged: "
                "use the authorize URL of this attempt")
    elif isinstance(exc, OAuthError):
        code, what = EXIT_AUTH, f"OAuth: {exc}"
        todo = "check the app id, app secret key and redirect URI, then run `okru login` again"
    elif isinstance(exc, UsageError):
        code, what, todo = EXIT_USAGE, str(exc), f"see `{command} --help`"
    elif isinstance(exc, TransportTimeout):
        code, what = EXIT_TRANSPORT, f"timed out: {exc}"
        todo = "check the network or --api-url, or raise --timeout"
    elif isinstance(exc, TransportError):
        code, what = EXIT_TRANSPORT, f"could not reach the server: {exc}"
        todo = "check the network and --api-url (is `okru fake-server` running?)"
    elif isinstance(exc, ProtocolError):
        code, what = EXIT_TRANSPORT, f"unexpected reply: {exc}"
        todo = "check --api-url points at the OK.ru API (or the emulator); try again later"
    elif isinstance(exc, Error):
        code, what, todo = EXIT_API, str(exc), "see the message"
    elif isinstance(exc, ModuleNotFoundError) and exc.name in ("httpx", "anyio", "trio", "h11"):
        code, what = EXIT_USAGE, f"the okru command needs {exc.name}, which is not installed"
        # okru is not on PyPI yet: the extras come from the checkout it was installed from.
        todo = "install okru with its adapters: `python3 -m pip install '.[httpx,trio]'` in the okru checkout"
    elif isinstance(exc, KeyboardInterrupt):
        code, what, todo = EXIT_INTERRUPTED, "interrupted", "run the command again when ready"
    elif isinstance(exc, OSError):
        code, what, todo = EXIT_USAGE, f"{type(exc).__name__}: {exc}", "check the path and its permissions"
    else:
        code, what = EXIT_API, f"unexpected {type(exc).__name__}: {exc}"
        todo = "this is a bug in okru: please report it with the output of --debug"
    if debug_hint and code not in (EXIT_USAGE, EXIT_INTERRUPTED):
        todo = f"{todo} (--debug shows more)" if todo else "--debug shows more"
    line = f"okru: error: {one_line(what)}"
    if todo:
        line += f" — {one_line(todo)}"
    return code, for_stream(line, sys.stderr)
