"""Argument types the subcommands share (argparse ``type=`` callables).

A bad value raises :class:`argparse.ArgumentTypeError`, which the parser turns into one
``okru: error: argument --port: ...`` line naming the subcommand's ``--help`` (exit 2).
"""

from __future__ import annotations

import argparse

__all__ = ["port_number", "positive_number"]


def port_number(text: str) -> int:
    """A TCP port, 0 to 65535 (0: any free port). Anything else is refused here: the socket
    layer would take 99999 as 99999 mod 65536 and -5 as a host error."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number: use 0 to 65535 (0: any free port)") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is out of range: use 0 to 65535 (0: any free port)")
    return value


def positive_number(text: str) -> float:
    """A finite number above 0 (a timeout, a clock speed): ``nan``, ``inf``, 0 and below are
    refused here rather than as a hang or a clock that never moves."""
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text!r}")
    return value
