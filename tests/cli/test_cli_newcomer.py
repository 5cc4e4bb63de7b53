"""What a newcomer typed wrong, through the real entry point (okru issue 21): a port outside
0..65535, a file that is not a resume state, a message pointing at the actual command's --help,
the install hint when an adapter is missing, and Ctrl-C of an upload (one instruction)."""

from __future__ import annotations

import hashlib
import os
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from okru_pytest import OKTestServer

from .conftest import TIMEOUT, Result, Runner, assert_one_error_line, okru_command

#: Every subcommand that takes --port, with what else it needs to get as far as parsing.
PORT_COMMANDS = [
    ("fake-server",),
    ("bot", "serve"),
    ("login", "--no-browser"),
]


@pytest.mark.parametrize("command", PORT_COMMANDS, ids=" ".join)
@pytest.mark.parametrize("port", ["99999", "65536", "-5", "http"])
def test_a_port_outside_0_to_65535_is_a_usage_error_naming_it(okru: Runner, command: tuple[str, ...],
                                                                port: str) -> None:
    result = okru(*command, "--port", port, timeout=TIMEOUT)
    name = " ".join(("okru", *command[:2 if command[0] == "bot" else 1]))
    line = assert_one_error_line(result, 2, "--port", port, f"see `{name} --help`", "0 to 65535")
    assert "COMMAND" not in line and "unknown host" not in line


def test_the_port_limits_themselves_are_accepted() -> None:
    from okru._args import port_number

    assert port_number("0") == 0 and port_number("65535") == 65535


@pytest.mark.parametrize("content", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),  # a picture: not even UTF-8
    b'{"okru": "something-else", "version": 1}',                   # JSON, not a resume state
    b"",                                                            # empty
    b"[" * (70 * 1024),                                             # large: refused unread
], ids=["png", "other-json", "empty", "large"])
def test_resume_given_another_file_is_a_usage_error(okru: Runner, tmp_path: Path, content: bytes) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00" * 1024)
    other = tmp_path / "cat.png"
    other.write_bytes(content)
    result = okru("upload-video", str(video), "--title", "T", "--resume", str(other),
                  "--app-id", "1", "--app-key", "K", "--access-token", "t", "--api-url", "http://127.0.0.1:9")
    line = assert_one_error_line(result, 2, str(other), "not a video resume state", "pass the file okru saved")
    assert "bug" not in line and "Unicode" not in line


@pytest.mark.parametrize(("command", "name"), [
    (("call", "users.getCurrentUser"), "okru call"),
    (("upload-video", "clip.mp4", "--title", "T"), "okru upload-video"),
    (("bot", "info", "--access-token", "tok"), "okru bot info"),
])
def test_a_bad_value_points_at_the_commands_own_help(okru: Runner, tmp_path: Path, command: tuple[str, ...],
                                                     name: str) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 64)
    creds = ("--app-id", "1", "--app-key", "K", "--app-secret-key", "S", "--access-token", "tok")
    args = [*command, "--timeout", "0", "--api-url", "http://127.0.0.1:9"]
    if command[0] != "bot":
        args += creds
    result = subprocess.run([*okru_command(), *args], capture_output=True, text=True, env=okru.env,
                            cwd=tmp_path, timeout=TIMEOUT, check=False)
    line = assert_one_error_line(_result(result), 2, "timeout", f"see `{name} --help`")
    assert "COMMAND" not in line


def _result(done: subprocess.CompletedProcess[str]) -> Result:
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize("missing", ["trio", "httpx"])
def test_demo_without_an_adapter_says_how_to_install_from_the_checkout(okru: Runner, missing: str) -> None:
    # As if only '.[httpx]' (or only '.[trio]') were installed: the import of the other fails.
    script = (f"import sys; sys.modules[{missing!r}] = None; "
              "from okru.__main__ import main; sys.exit(main(['demo']))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=okru.env,
                          timeout=TIMEOUT, check=False)
    line = assert_one_error_line(_result(done), 2, f"needs {missing}",
                                 "python3 -m pip install '.[httpx,trio]'", "checkout")
    assert "okru[all]" not in line


def test_ctrl_c_of_an_upload_gives_one_instruction_that_works(okru: Runner, tmp_path: Path,
                                                              fake_ok_server: OKTestServer) -> None:
    fake, url = fake_ok_server.fake, fake_ok_server.url
    data = hashlib.shake_256(b"ctrl-c").digest(3 * 2**20 + 5)
    video = tmp_path / "big.mp4"
    video.write_bytes(data)
    token = fake.issue_token(scope=["VALUABLE_ACCESS", "VIDEO_CONTENT"])["access_token"]
    creds = ["--app-id", fake.app_id, "--app-key", fake.app_key, "--app-secret-key", fake.app_secret_key,
             "--access-token", token, "--api-url", url]

    # Hold the second chunk's POST on the server until the command has been interrupted: the
    # first chunk is confirmed, so there is something to resume.
    second_chunk, release = threading.Event(), threading.Event()
    uploads: list[object] = []
    real_open_stream = fake.open_stream

    def open_stream(request: Any) -> Any:
        sink = real_open_stream(request)
        if sink is not None:
            uploads.append(sink)
            if len(uploads) == 2:
                second_chunk.set()
                release.wait(TIMEOUT)
        return sink

    fake.open_stream = open_stream  # type: ignore[method-assign]
    proc = okru.popen("upload-video", str(video), "--title", "Big", "--chunk-size", "1", *creds)
    try:
        assert second_chunk.wait(TIMEOUT), "the upload never reached its second chunk"
        proc.proc.send_signal(signal.SIGINT)
        done = proc.finish()
    finally:
        release.set()
        proc.kill()
    assert done.returncode == 130, done.output
    state_file = f"{video}.okru-resume.json"
    line = assert_one_error_line(done, 130, "interrupted", "upload stopped at", state_file, "continue with: ")
    assert line.count("--resume") == 1 and "run the command again" not in line
    assert oct(os.stat(state_file).st_mode & 0o777) == "0o600"

    # The one instruction, run as printed, finishes the upload.
    again = shlex.split(line.partition("continue with: ")[2])
    assert again[:2] == ["okru", "upload-video"]
    fake.open_stream = real_open_stream  # type: ignore[method-assign]
    result = okru(*again[1:], *creds)
    assert result.returncode == 0, result.output
    assert any(v.data == data for v in fake.videos.values()) and not os.path.exists(state_file)

