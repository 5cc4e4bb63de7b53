"""The loopback listener that receives the browser's answer during ``okru login``.

The authorization-code grant for a person: the authorize URL (``okru_proto.authorize_url``) in
their browser, the browser comes back to ``http://127.0.0.1:<port>/callback``, the ``state`` is
checked and the code read by ``okru_proto.parse_callback``, and ``okru_httpx.sync.CodeSession``
exchanges it (``command``). Nothing here knows OK.ru's protocol; it only moves values between
those.

The listener (:class:`CallbackListener`) serves every connection on its own thread with a
per-connection timeout (a browser's preconnect or a port scanner must not hold it up), answers
requests that are not the awaited callback (a wrong ``state``, another path) with a page and
keeps waiting, recovers a result OK put in the URL fragment (the browser never sends it), and
holds the browser's answer until the caller reports the outcome of the code exchange.
"""

from __future__ import annotations

import contextlib
import html
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from okru_proto import Error, OAuthError, parse_callback
from okru_proto.errors import StateMismatchError

from .._output import EXIT_AUTH, CLIError

__all__ = ["CONNECTION_TIMEOUT", "OUTCOME_TIMEOUT", "Callback", "CallbackListener"]

_STYLE = ("body{font-family:sans-serif;margin:3em;max-width:40em;line-height:1.4}"
          "h1{font-size:1.6em}.ok{color:#1a7f37}.fail{color:#b42318}")
_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>okru login: {title}</title><style>{style}</style></head>
<body><h1 class="{kind}" id="title">{title}</h1>{paragraphs}{extra}</body></html>"""

#: OK's cancel link is ``{redirect_uri}#error=access_denied`` (docs/protocol.md §3.1, §3.6) and a
#: browser never sends the fragment to the server: this page, served when the query holds no
#: answer, asks the browser to request the same URL again with the fragment added to the query.
_FRAGMENT_SCRIPT = """<script>
(function () {
  var h = window.location.hash.replace(/^#/, "");
  if (h) {
    var q = window.location.search;
    window.location.replace(window.location.pathname + q + (q ? "&" : "?") + h);
  } else {
    document.getElementById("title").textContent = "Waiting for OK.ru";
    document.getElementById("text").textContent =
      "This address receives OK.ru's answer for okru login; nothing arrived here. "
      + "Return to the terminal.";
  }
})();
</script>"""

#: How long one connection may stay silent (a browser preconnect, a port scanner) before the
#: listener closes it; each connection has its own thread, so it never delays the real callback.
CONNECTION_TIMEOUT = 10.0
#: How long the browser's callback request waits for the outcome of the code exchange.
OUTCOME_TIMEOUT = 120.0


def _page(title: str, *paragraphs: str, kind: str = "", extra: str = "",
          first_id: str = "text") -> bytes:
    body = "".join(
        f'<p id="{first_id}">{html.escape(p)}</p>' if i == 0 else f"<p>{html.escape(p)}</p>"
        for i, p in enumerate(paragraphs))
    return _PAGE.format(title=html.escape(title), style=_STYLE, kind=kind, paragraphs=body,
                        extra=extra).encode("utf-8")


@dataclass
class _Answer:
    status: int
    body: bytes


class Callback:
    """The browser's request that carried the authorization code.

    The browser waits for its answer until :meth:`succeed` or :meth:`fail` says how the login
    ended (or :data:`OUTCOME_TIMEOUT` passes): it then shows the real outcome, never an early
    "logged in".
    """

    def __init__(self, code: str, state: str | None) -> None:
        self.code = code
        self._state = state
        self._answer: _Answer | None = None
        self._decided = threading.Event()

    def __repr__(self) -> str:  # the code is a credential until exchanged
        return f"Callback(decided={self._decided.is_set()})"

    def succeed(self, who: str) -> None:
        """The login is stored: the browser shows who logged in."""
        self._decide(_Answer(200, _page(
            f"Logged in as {who}", "okru stored the login. You can close this tab and return to the terminal.",
            kind="ok")))

    def fail(self, what: str, todo: str) -> None:
        """The code exchange (or what followed) failed: the browser says what and what to do."""
        self._decide(_Answer(502, _page(
            "Login failed", what, f"What to do: {todo}",
            "Nothing was stored. Return to the terminal: okru printed the same message there.",
            kind="fail")))

    def _decide(self, answer: _Answer) -> None:
        if not self._decided.is_set():
            self._answer = answer
            self._decided.set()

    def _wait_answer(self, timeout: float) -> _Answer:
        if self._decided.wait(timeout) and self._answer is not None:
            return self._answer
        return _Answer(504, _page("Still working", "okru is still finishing the login. "
                                  "Return to the terminal to see how it ended.", kind="fail"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck connection must never keep `okru login` alive
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser that hangs up early is not our error; never print its request


class CallbackListener:
    """An HTTP server on a loopback address that waits for ``GET <path>?code=...&state=...``.

    ``redirect_uri`` is what to register with OK.ru and put in the authorize URL; :meth:`wait`
    returns the :class:`Callback` (``state`` checked by ``okru_proto.parse_callback``) or raises
    :class:`~okru._output.CLIError`: the person cancelled in the browser, OK sent an error, or
    nothing came in time. Requests that are not the awaited callback get a page and are ignored.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, path: str = "/callback",
                 redirect_uri: str | None = None, state: str | None = None,
                 connection_timeout: float = CONNECTION_TIMEOUT,
                 outcome_timeout: float = OUTCOME_TIMEOUT) -> None:
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
        self.outcome_timeout = outcome_timeout
        #: Requests answered with the wrong-state page (a stale tab, a forged request).
        self.wrong_state = 0
        self._expected_state = state
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._result: Callback | CLIError | None = None
        #: Set once the browser got the answer to the request that ended the login.
        self._final_sent = threading.Event()
        self._thread: threading.Thread | None = None
        listener = self

        class Handler(BaseHTTPRequestHandler):
            timeout = connection_timeout  # per connection: socket reads and writes
            server_version = "okru-login"
            sys_version = ""

            def do_GET(self) -> None:
                listener._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the browser's requests carry the code: never log them

        server_class: type[_Server] = _Server
        if ":" in host:
            class _Server6(_Server):
                address_family = socket.AF_INET6
            server_class = _Server6
        try:
            self._server = server_class((host, port), Handler)
        except OSError as exc:
            raise CLIError(f"cannot listen on {host}:{port} for the callback: {exc.strerror}",
                           "pick another --port (0 = any free port), or stop what uses it") from exc
        bound = self._server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.redirect_uri = redirect_uri or f"http://{shown}:{bound}{path}"

    def expect_state(self, state: str) -> None:
        self._expected_state = state

    # -- answering the browser -------------------------------------------------------------------

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        try:
            request.send_response(status)
            request.send_header("Content-Type", "text/html; charset=utf-8")
            request.send_header("Content-Length", str(len(body)))
            # The callback URL holds the code: never cached, never sent on as a Referer.
            request.send_header("Cache-Control", "no-store")
            request.send_header("Referrer-Policy", "no-referrer")
            request.end_headers()
            request.wfile.write(body)
            request.wfile.flush()
        except OSError:
            pass  # the browser went away; the terminal still reports the outcome

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        target = urlsplit(request.path)
        if target.path != self.path:
            self._send(request, 404, _page("Not found", "okru login only answers at "
                                           f"{self.path}. Return to the terminal.", kind="fail"))
            return
        params = dict(parse_qsl(target.query, keep_blank_values=True))
        if not {"code", "error", "state"} & params.keys():
            # No answer in the query (a redirect URI may carry its own query): it may be in the
            # fragment, which only the browser has.
            self._send(request, 200, _page(
                "Reading OK.ru's answer", "One moment: reading OK.ru's answer from this address.",
                extra=_FRAGMENT_SCRIPT + "<noscript><p>okru reads this answer with JavaScript, which is "
                "off. If you clicked Cancel, press Ctrl-C in the terminal.</p></noscript>"))
            return
        with self._lock:
            finished = self._done.is_set()
            result = self._result
        if finished:
            if isinstance(result, Callback) and params.get("state") == result._state:
                answer = result._wait_answer(self.outcome_timeout)  # a reload of the outcome page
                self._send(request, answer.status, answer.body)
            else:
                self._send(request, 409, _page("This login is over", "okru login is no longer waiting "
                                               "for this answer. Return to the terminal.", kind="fail"))
            return
        if "error" in params and "state" not in params:
            # OK's cancel link carries no state (its fragment is just error=access_denied,
            # docs/protocol.md §3.6): an error without a state is OK's answer, and ends the login.
            self._finish_with_error(request, params["error"] or "unknown_error", params.get("error_description"))
            return
        try:
            code = parse_callback(request.path, expected_state=self._expected_state)
        except StateMismatchError:
            self._wrong_state(request)
            return
        except OAuthError as exc:
            if "error" in params:  # OK's error answer, with our state
                self._finish_with_error(request, exc.error, exc.error_description)
            else:
                self._send(request, 400, _page(
                    "Not OK.ru's answer", "This request has neither a code nor an error; "
                    "okru login keeps waiting for OK.ru's answer.", kind="fail"))
            return
        except Error:
            self._send(request, 400, _page("Not OK.ru's answer", "okru login keeps waiting for "
                                           "OK.ru's answer.", kind="fail"))
            return
        callback = Callback(code, params.get("state"))
        with self._lock:
            if self._done.is_set():  # another connection won the race
                self._send(request, 409, _page("This login is over", "Return to the terminal.", kind="fail"))
                return
            self._result = callback
            self._done.set()
        answer = callback._wait_answer(self.outcome_timeout)
        self._send(request, answer.status, answer.body)
        self._final_sent.set()

    def _wrong_state(self, request: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.wrong_state += 1
        self._send(request, 400, _page(
            "Not this login", "This answer belongs to another login attempt (its state does not match "
            "the one okru is waiting for): an old tab from an earlier `okru login`, or a forged request.",
            "okru ignored it and is still waiting. Use the URL okru printed most recently.", kind="fail"))

    def _finish_with_error(self, request: BaseHTTPRequestHandler, error: str, description: str | None) -> None:
        if error == "access_denied":
            failure = CLIError("access denied in the browser (Cancel was clicked on OK.ru's permission page)",
                               "run `okru login` again and allow access; nothing was stored", EXIT_AUTH)
            page = _page("Login cancelled", "You declined access on OK.ru, so okru stored nothing.",
                         "Return to the terminal; run `okru login` again to retry.", kind="fail")
        else:
            what = error if not description else f"{error}: {description}"
            failure = CLIError(f"OK.ru refused the login: {what}",
                               "check the app's settings on OK.ru (redirect URI, permissions), then "
                               "run `okru login` again; nothing was stored", EXIT_AUTH)
            page = _page("Login failed", f"OK.ru answered: {what}", "okru stored nothing. "
                         "Return to the terminal for what to do.", kind="fail")
        with self._lock:
            ending = not self._done.is_set()
            if ending:
                self._result = failure
                self._done.set()
            else:
                page = _page("This login is over", "Return to the terminal.", kind="fail")
        self._send(request, 200, page)
        if ending:
            self._final_sent.set()

    # -- waiting -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Serve in a background thread (idempotent; :meth:`wait` calls it)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                            name="okru-login-callback", daemon=True)
            self._thread.start()

    def wait(self, timeout: float, progress: Callable[[float], None] | None = None,
             *, tick: float = 10.0) -> Callback:
        """Wait until the callback arrives or ``timeout`` seconds pass (``progress(seconds_left)``
        every ``tick`` seconds). Report the outcome with the callback's ``succeed``/``fail``."""
        self.start()
        deadline = time.monotonic() + timeout
        while not self._done.wait(max(0.0, min(tick, deadline - time.monotonic()))):
            left = deadline - time.monotonic()
            if left <= 0:
                ignored = ""
                if self.wrong_state:
                    ignored = (f" (ignored {self.wrong_state} request(s) with a wrong state: an old tab "
                               "from an earlier login, or a forged request)")
                raise CLIError(f"no callback from the browser within {timeout:g} s{ignored}",
                               "open the URL okru printed (the most recent one) and allow access, "
                               "or raise --timeout", EXIT_AUTH)
            if progress is not None:
                progress(left)
        result = self._result
        if isinstance(result, CLIError):
            raise result
        assert isinstance(result, Callback)
        return result

    def close(self, *, grace: float = 5.0) -> None:
        """Stop listening; first give the browser ``grace`` seconds to receive its outcome page."""
        result = self._result
        if isinstance(result, Callback):
            result._decide(_Answer(500, _page("Login failed", "okru stopped before the login "
                                              "finished. Return to the terminal.", kind="fail")))
        if result is not None:
            self._final_sent.wait(grace)
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(grace)
        self._server.server_close()

    @contextlib.contextmanager
    def running(self) -> Iterator[CallbackListener]:
        try:
            yield self
        finally:
            self.close()
