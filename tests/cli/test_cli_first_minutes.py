"""The first five minutes with the command: it never lies about what went wrong.

A closed pipe, a busy port, an ASCII-only terminal, an unsigned call, a wildcard host, Ctrl-C,
a slow server and start-up time, each through the real entry point where a process is needed.
"""

from __future__ import annotations

import io
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Callable

import pytest

from okru._fake_server import usable_url
from okru._output import WaitNotice, can_encode, describe_error, prepare_stdout
from okru_proto.testing import FakeOK

from .conftest import TIMEOUT, Runner, assert_one_error_line, okru_command

Server = tuple[FakeOK, str]


def test_a_closed_pipe_is_a_quiet_exit_141(okru: Runner) -> None:
    # `okru demo | head -1`: read one line, then close our end while the demo still writes.
    proc = subprocess.Popen([*okru_command(), "demo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=okru.env)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(TIMEOUT) == 141
    assert first.startswith(b"okru demo:")
    assert stderr == b"", stderr  # no traceback, no "okru: error:" line


def test_a_busy_port_says_so_and_suggests_port_0(okru: Runner) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = okru("fake-server", "--port", str(port))
    line = assert_one_error_line(result, 2, f"127.0.0.1:{port}", "in use", "--port 0")
    assert "path" not in line and "permissions" not in line


def test_an_ascii_stdout_gets_ascii_marks_and_escapes(okru: Runner) -> None:
    result = okru("demo", env={"PYTHONIOENCODING": "ascii", "PYTHONUTF8": "0", "LC_ALL": "C"})
    assert result.returncode == 0, result.output
    assert result.stdout.isascii() and result.stderr == ""
    assert "+ all 13 steps passed" in result.stdout and "  + ok (" in result.stdout
    assert "    -> POST" in result.stdout and "    <- " in result.stdout
    assert "\\u041f\\u0440\\u0438\\u0432\\u0435\\u0442" in result.stdout  # "Привет", escaped, not lost


def test_an_ascii_stdout_call_prints_escaped_json(okru: Runner, server: Server) -> None:
    fake, url = server
    result = okru("call", "users.getInfo", "uids=571000000003", "fields=name", "--api-url", url,
                  "--app-key", fake.app_key, "--app-secret-key", fake.app_secret_key,
                  env={"PYTHONIOENCODING": "ascii", "PYTHONUTF8": "0"})
    assert result.returncode == 0, result.output
    assert result.stdout.isascii()
    assert json.loads(result.stdout) == [{"uid": "571000000003", "name": "Мария Иванова"}]


def test_an_unsigned_call_of_a_user_method_says_it_needs_a_session(okru: Runner, server: Server) -> None:
    fake, url = server
    result = okru("call", "users.getCurrentUser", "--app-key", fake.app_key, "--api-url", url)
    line = assert_one_error_line(result, 3, "users.getCurrentUser needs a user session", "okru login",
                                 "--access-token")
    assert "check that secret" not in line


def test_a_wildcard_host_prints_a_loopback_url_that_works_and_ctrl_c_is_130(okru: Runner) -> None:
    proc = okru.popen("fake-server", "--host", "0.0.0.0", "--port", "0")
    try:
        url = proc.wait_line(r"^(http://\S+)$").group(1)
        assert url.startswith("http://127.0.0.1:"), url
        try_line = proc.wait_line(r"^Try: okru login")
        assert f"--api-url {url} " in try_line.string
        fake = FakeOK()
        # okru itself accepts the printed URL (it refuses plain http to 0.0.0.0).
        result = okru("call", "users.getInfo", f"uids={fake.user_id}", "fields=name", "--api-url", url,
                      "--app-key", fake.app_key, "--app-secret-key", fake.app_secret_key)
        assert result.returncode == 0, result.output
        proc.proc.send_signal(signal.SIGINT)
        done = proc.finish()
        assert done.returncode == 130, done.output
        assert "0.0.0.0" in done.stderr and "stopped" in done.stderr
    finally:
        proc.kill()


@pytest.mark.parametrize(("bound", "usable"), [
    ("http://0.0.0.0:8765", "http://127.0.0.1:8765"),
    ("http://[::]:8765", "http://[::1]:8765"),
    ("https://0.0.0.0:443", "https://127.0.0.1:443"),
    ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ("http://[::1]:8765", "http://[::1]:8765"),
    ("http://192.0.2.7:8765", "http://192.0.2.7:8765"),
])
def test_usable_url(bound: str, usable: str) -> None:
    assert usable_url(bound) == usable


def test_help_documents_130_and_141(okru: Runner) -> None:
    result = okru("--help")
    assert result.returncode == 0
    assert "130  interrupted (Ctrl-C)" in result.stdout and "141  the reader of stdout went away" in result.stdout


# -- the waiting notice: logic with a fake terminal and a fake timer (no sleeping) ------------------

class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool = True, encoding: str = "utf-8") -> None:
        super().__init__()
        self.tty = tty
        self._encoding = encoding

    def isatty(self) -> bool:
        return self.tty

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding


class FakeTimer:
    def __init__(self) -> None:
        self.started: list[tuple[float, Callable[[], None]]] = []
        self.cancelled = 0

    def __call__(self, delay: float, callback: Callable[[], None]) -> Callable[[], None]:
        self.started.append((delay, callback))

        def cancel() -> None:
            self.cancelled += 1

        return cancel

    def fire(self) -> None:
        self.started[-1][1]()


def test_wait_notice_shows_after_the_delay_on_a_terminal_then_erases_itself() -> None:
    term, timer = FakeTerminal(), FakeTimer()
    with WaitNotice("okru: waiting for api.ok.ru (10 s; Ctrl-C cancels)...", stream=term, start_timer=timer) as notice:
        assert [delay for delay, _ in timer.started] == [1.0]
        assert term.getvalue() == ""  # a fast reply shows nothing
        timer.fire()
        assert term.getvalue() == "okru: waiting for api.ok.ru (10 s; Ctrl-C cancels)..."
        assert notice.shown
    assert term.getvalue().endswith("\r\x1b[K") and timer.cancelled == 1


def test_wait_notice_fast_reply_prints_nothing_even_if_the_timer_fires_late() -> None:
    term, timer = FakeTerminal(), FakeTimer()
    with WaitNotice("waiting...", stream=term, start_timer=timer):
        pass
    timer.fire()  # the timer thread lost the race with the reply
    assert term.getvalue() == "" and timer.cancelled == 1


def test_wait_notice_is_silent_when_not_a_terminal() -> None:
    piped, timer = FakeTerminal(tty=False), FakeTimer()
    with WaitNotice("waiting...", stream=piped, start_timer=timer):
        pass
    assert timer.started == [] and piped.getvalue() == ""


def test_wait_notice_ascii_terminal() -> None:
    term, timer = FakeTerminal(encoding="ascii"), FakeTimer()
    with WaitNotice("okru: waiting for api.ok.ru — Ctrl-C cancels…", stream=term, start_timer=timer):
        timer.fire()
    assert term.getvalue().startswith("okru: waiting for api.ok.ru -- Ctrl-C cancels...")


def test_a_piped_call_shows_no_waiting_notice(okru: Runner, server: Server) -> None:
    fake, url = server
    result = okru("call", "users.getInfo", f"uids={fake.user_id}", "fields=name", "--api-url", url,
                  "--app-key", fake.app_key, "--app-secret-key", fake.app_secret_key)
    assert result.returncode == 0 and result.stderr == "", result.output


def test_stream_helpers() -> None:
    assert can_encode(FakeTerminal()) and not can_encode(FakeTerminal(encoding="ascii"))
    raw = io.BytesIO()
    ascii_out = io.TextIOWrapper(raw, encoding="ascii")
    prepare_stdout(ascii_out)
    ascii_out.write("Привет ✔")
    ascii_out.flush()
    assert raw.getvalue() == b"\\u041f\\u0440\\u0438\\u0432\\u0435\\u0442 \\u2714"
    code, line = describe_error(OSError("x"))
    assert code == 2 and line.startswith("okru: error:")


# -- start-up: what `import okru_proto` and `okru --help` do not load ---------------------------------

#: Loaded only by the call paths that need them (the login dialogs, sessions, adapters, logins).
LAZY = ("okru_proto._wire.dialog", "okru_proto._session", "okru_proto.adapter", "okru_proto._wire.oauth",
        "okru_proto._photos", "okru_proto._paging", "okru_proto._wire.rest", "okru_proto._values",
        "html.parser", "datetime", "dataclasses", "json", "logging", "typing")
#: On top of that, `okru --help` loads neither the core, nor an adapter, nor the login machinery.
LAZY_FOR_HELP = ("okru_proto", "okru_httpx", "okru_trio", "httpx", "trio", "okru._login.stored", "okru._demo.command",
                 "okru._login.callback", "okru._demo.show", "okru._demo.steps",
                 "http.server", "ssl", "webbrowser", "dataclasses", "typing", "json", "shlex")


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=TIMEOUT,
                          check=True)
    return set(done.stdout.split())


def test_import_okru_proto_loads_no_submodule() -> None:
    loaded = _loaded_after("import okru_proto")
    assert "okru_proto" in loaded
    assert not {m for m in LAZY if m in loaded}, sorted(m for m in LAZY if m in loaded)


def test_public_names_still_load_on_use() -> None:
    loaded = _loaded_after("from okru_proto import sign, Endpoints; import okru_proto; "
                           "assert okru_proto.APIError.__name__ == 'APIError'")
    assert {"okru_proto._wire.sign", "okru_proto._values", "okru_proto._errors"} <= loaded
    assert "okru_proto._wire.dialog" not in loaded and "html.parser" not in loaded
    import okru_proto

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        okru_proto.nope  # noqa: B018
    assert set(okru_proto.__all__) <= set(dir(okru_proto))


def test_okru_help_loads_neither_the_core_nor_an_adapter() -> None:
    loaded = _loaded_after("import contextlib, io\nfrom okru.__main__ import main\n"
                           "with contextlib.redirect_stdout(io.StringIO()):\n    main(['--help'])")
    assert {"okru._cli", "okru._output", "okru._creds", "okru._call", "okru._login.command"} <= loaded
    assert not {m for m in LAZY_FOR_HELP if m in loaded}, sorted(m for m in LAZY_FOR_HELP if m in loaded)
