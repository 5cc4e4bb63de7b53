"""``okru demo``: the whole library against the emulator on loopback, step by step.

Each step prints what was sent (from the emulator's request log, secrets masked) and what came
back, then ✔ or ✘. Steps are independent (each gets its own token from the emulator when it
needs one), so one failure does not hide the others; the exit code is 5 when any step failed.
This module runs them (:class:`Demo`, :func:`run_demo`); the steps are ``steps``', the
output format ``show``'s.
"""

from __future__ import annotations

import time
from typing import TextIO

from okru_proto import UsageError
from okru_proto.testing import FakeOK

from .._output import EXIT_DEMO, EXIT_OK, CLIError, describe_error, one_line
from .show import DemoCheckFailed
from .steps import Steps

__all__ = ["Demo", "run_demo"]


class Demo(Steps):
    """The steps, sharing one emulator (``fake``) served on ``url``, and the loop that runs them."""

    def __init__(self, fake: FakeOK, url: str, *, verbose: bool = False, out: TextIO | None = None) -> None:
        super().__init__(fake, url, verbose=verbose, out=out)
        self.steps = self.plan()

    # -- running ----------------------------------------------------------------------------
    def run(self) -> int:
        total = len(self.steps)
        failed: list[str] = []
        started = time.perf_counter()
        for number, (title, step) in enumerate(self.steps, 1):
            self.say(f"[{number}/{total}] {title}")
            self._seen = len(self.fake.requests)
            t0 = time.perf_counter()
            try:
                step()
            except BrokenPipeError:
                raise  # our stdout is gone (`okru demo | head`): not a failed step; stop quietly
            except Exception as exc:
                self.sent()
                if isinstance(exc, DemoCheckFailed):
                    line = f"unexpected result: {exc}"
                else:
                    line = describe_error(exc, debug_hint=False)[1].removeprefix("okru: error: ")
                self.say(f"  ✘ failed: {one_line(line)}")
                failed.append(f"{number}")
            else:
                self.say(f"  ✔ ok ({(time.perf_counter() - t0) * 1000:.0f} ms)")
            self.say()
        elapsed = time.perf_counter() - started
        if failed:
            self.say(f"✘ {len(failed)} of {total} steps failed (step {', '.join(failed)}) in {elapsed:.1f} s")
            return EXIT_DEMO
        self.say(f"✔ all {total} steps passed in {elapsed:.1f} s")
        return EXIT_OK


def run_demo(*, verbose: bool = False, faults: list[str] | None = None, out: TextIO | None = None) -> int:
    """Start the emulator on an ephemeral loopback port and run every step; the exit code."""
    import importlib

    from okru_trio.testing import run_fake_server

    # Every step calls through okru_httpx.sync: without httpx, one error up front (with the
    # install hint), not 13 failed steps.
    importlib.import_module("okru_httpx.sync")
    fake = FakeOK()
    for spec in faults or []:
        method, sep, fault = spec.rpartition("=")
        if not sep or not method or not fault:
            raise CLIError(f"bad --fault {spec!r}", "use METHOD=FAULT, e.g. users.getInfo=service")
        try:
            fake.inject(fault, method=method, times=None)
        except UsageError as exc:
            raise CLIError(f"bad --fault {spec!r}: {exc}", "see docs/emulator.md for the faults") from exc
    with run_fake_server(fake) as url:
        demo = Demo(fake, url, verbose=verbose, out=out)
        demo.say(f"okru demo: the OK.ru emulator runs on {url} (demo app {fake.app_id}, user "
                 f"{fake.user_login!r}); every request below is what the emulator received, secrets masked.")
        if faults:
            demo.say(f"faults injected: {', '.join(faults)}")
        demo.say()
        return demo.run()
