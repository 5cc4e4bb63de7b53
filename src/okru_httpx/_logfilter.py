"""httpx's and httpcore's log lines: everything that keeps credentials out of them lives here.

httpx logs each request URL at INFO and httpcore each response's headers at DEBUG: an upload
URL's apiToken, a GET call's access_token, the dialogs' login cookie and the implicit grant's
redirect fragment (access_token, session_secret_key) would all land in the application's logs.
:class:`RedactCredentials` on those loggers masks credential values; everything else in the line
stays.

Installing it changes process-wide loggers, so importing okru_httpx does not: the first okru
session or bot made with httpx calls :func:`install_log_filter` (idempotent), and
:func:`remove_log_filter` takes it off again and stops sessions from putting it back, for an
application that filters these loggers itself (docs/httpx.md, "Logging").
"""

from __future__ import annotations

import logging
import re
import threading

from okru_proto.adapter import SECRET_PARAM_NAMES

__all__ = ["LOGGER_NAMES", "RedactCredentials", "install_log_filter", "log_filter_installed", "remove_log_filter"]

#: The loggers the filter goes on. Logger filters do not apply to child loggers, hence each
#: httpcore module by name.
LOGGER_NAMES = ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2",
                "httpcore.proxy", "httpcore.socks")

_NAMES = "|".join(re.escape(n) for n in sorted(SECRET_PARAM_NAMES))
_CREDENTIAL_VALUE = re.compile(rf"((?:{_NAMES})=)[^&#\s'\"]+")
_COOKIE_VALUE = re.compile(r"((?:set-)?cookie'?,\s*b?['\"][^=;'\"]+=)[^;'\"]*", re.IGNORECASE)


class RedactCredentials(logging.Filter):
    """Masks OK.ru credential values in httpx's and httpcore's own log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to fix; let logging report it
            return True
        masked = _COOKIE_VALUE.sub(r"\1***", _CREDENTIAL_VALUE.sub(r"\1***", text))
        if masked != text:
            record.msg, record.args = masked, ()
        return True


_REDACT = RedactCredentials()
_lock = threading.Lock()
#: "pending" until a session or the application installs the filter; "removed" after
#: remove_log_filter(), when sessions leave the loggers alone.
_state = "pending"


def install_log_filter() -> None:
    """Put :class:`RedactCredentials` on httpx's and httpcore's loggers (once; calling it again
    does nothing). Sessions call it when they are made; call it yourself to mask those loggers
    before any session exists, or to undo :func:`remove_log_filter`."""
    global _state
    with _lock:
        for name in LOGGER_NAMES:
            logger = logging.getLogger(name)
            if not any(isinstance(f, RedactCredentials) for f in logger.filters):
                logger.addFilter(_REDACT)
        _state = "installed"


def remove_log_filter() -> None:
    """Take the filter off httpx's and httpcore's loggers, and keep sessions made later from
    installing it again (until :func:`install_log_filter`). Their lines may then hold tokens."""
    global _state
    with _lock:
        for name in LOGGER_NAMES:
            logger = logging.getLogger(name)
            for f in [f for f in logger.filters if isinstance(f, RedactCredentials)]:
                logger.removeFilter(f)
        _state = "removed"


def log_filter_installed() -> bool:
    """True when every logger in :data:`LOGGER_NAMES` carries the filter."""
    return all(any(isinstance(f, RedactCredentials) for f in logging.getLogger(name).filters)
               for name in LOGGER_NAMES)


def session_made() -> None:
    """Every okru_httpx session and bot constructor calls this: installs the filter the first
    time, unless the application removed it."""
    if _state == "pending":
        install_log_filter()
