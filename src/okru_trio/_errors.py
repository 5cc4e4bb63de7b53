"""How a failure of the trio transport reads: everything that words an error lives here.

The three time limits and their messages (:class:`Timeouts`: which limit fired, and its value),
the mapping of OS, stream and TLS failures to :class:`okru_proto.TransportError` (a certificate
verification failure says so), and :data:`MAY_HAVE_RUN`, what every error after the first
request byte was written adds. Messages name ``host:port`` only: never the URL's query or the
body, where tokens travel. The caller raises the error ``from`` the original exception.
"""

from __future__ import annotations

import math
import ssl

from okru_proto import TransportError, TransportTimeout, UsageError

__all__ = ["MAY_HAVE_RUN", "Timeouts", "limit", "transport_error"]

# okru cannot tell whether the server ran a call whose request it began to write, so it never
# repeats it on its own (only an opted-in RetryPolicy does): the message says so.
MAY_HAVE_RUN = (
    "the request may have reached the server and run there; check before repeating a call that "
    "changes something"
)


def limit(value: float | None, name: str) -> float:
    """A timeout option in seconds (``None``: no limit, ``inf``), or UsageError."""
    if value is None:
        return math.inf
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise UsageError(f"{name} must be a positive number of seconds or None, got {value!r}")
    return float(value)


class Timeouts:
    """``connect``, ``read`` (each wait for the server) and ``total`` (the whole call), in seconds."""

    __slots__ = ("connect", "read", "total")

    def __init__(self, connect: float | None, read: float | None, total: float | None) -> None:
        self.connect = limit(connect, "connect_timeout")
        self.read = limit(read, "read_timeout")
        self.total = limit(total, "timeout")

    def error(self, kind: str, label: str, *, sent: bool = False) -> TransportTimeout:
        """The timeout ``kind`` ("connect", "read", "pool" or "total") expired talking to ``label``."""
        if kind == "read":
            message = f"read timeout ({self.read:g}s) expired waiting for {label}"
        elif kind == "connect":
            message = f"connect timeout ({self.connect:g}s) expired connecting to {label}"
        elif kind == "pool":
            message = f"total timeout ({self.total:g}s) expired waiting for a free connection to {label}"
        else:
            message = f"total timeout ({self.total:g}s) expired talking to {label}"
        if sent:
            message = f"{message}; {MAY_HAVE_RUN}"
        return TransportTimeout(message)


def transport_error(exc: BaseException, label: str, *, sent: bool, closed: bool) -> TransportError:
    """Our error for a stream, OS or TLS failure; ``sent``: a request byte may have been written."""
    after = f"; {MAY_HAVE_RUN}" if sent else ""
    if closed:
        return TransportError(f"the transport was closed during a call to {label}{after}")
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return TransportError(
            f"TLS certificate verification failed for {label}: {cause.verify_message or cause}"
        )
    if isinstance(cause, ssl.SSLError):
        return TransportError(f"TLS error with {label}: {cause}{after}")
    if not sent:
        return TransportError(f"could not connect to {label}: {exc}")
    return TransportError(f"connection to {label} failed: {type(exc).__name__}: {exc}{after}")
