"""`okru demo` through the real entry point: every step, exit codes, no secret in the output."""

from __future__ import annotations

import re
import time

from .conftest import HEX32_RE, Runner, assert_no_secrets, assert_one_error_line

STEPS = 13


def test_demo_passes_every_step(okru: Runner) -> None:
    started = time.monotonic()
    result = okru("demo")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.output
    out = result.stdout
    for number in range(1, STEPS + 1):
        assert f"[{number}/{STEPS}] " in out
    assert out.count("✔ ok") == STEPS
    assert "✘" not in out
    assert f"✔ all {STEPS} steps passed" in out
    for shown in ("/oauth/authorize?client_id=", "→ POST /oauth/token.do", "→ POST /dk", "auth.login",
                  "notifications.sendSimple", "emptyPictures=false", "Привет, мир!", "MethodNotFoundError",
                  "users.noSuchMethod", "grant_type=refresh_token", "okru_trio", "/uploadImage",
                  "photosV2.commit", "page 3: 5 members, has_more=False"):
        assert shown in out, shown
    assert_no_secrets(result.output)
    assert not HEX32_RE.search(out), HEX32_RE.search(out)  # sigs are shortened, secrets masked
    assert elapsed < 30


def test_demo_through_the_console_script_verbose(okru: Runner) -> None:
    result = okru("demo", "--verbose", script=True)
    assert result.returncode == 0, result.output
    assert "application_key=CBADEMOAPPKEYBABA" in result.stdout  # routine params shown with -v
    assert_no_secrets(result.output)


def test_demo_fails_when_a_step_fails(okru: Runner) -> None:
    result = okru("demo", "--fault", "users.getInfo=service", "--fault", "/oauth/token.do=http_502")
    assert result.returncode == 5, result.output
    out = result.stdout
    assert "faults injected" in out
    failed = re.findall(r"✘ failed: (.*)", out)
    assert failed and any("error 2" in line for line in failed), failed
    assert re.search(r"✘ \d+ of 13 steps failed \(step [\d, ]*8[\d, ]*\)", out), out
    assert "[13/13]" in out  # later steps still ran
    assert_no_secrets(result.output)


def test_demo_bad_fault_is_a_usage_error(okru: Runner) -> None:
    assert_one_error_line(okru("demo", "--fault", "users.getInfo=meteor"), 2, "--fault")
    assert_one_error_line(okru("demo", "--fault", "nonsense"), 2, "METHOD=FAULT")
