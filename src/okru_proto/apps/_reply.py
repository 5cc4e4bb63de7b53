"""What OK.ru is answered on ``callbacks.payment``: the documented XML (or the JSON variant) and
the ``Invocation-error`` header on an error (docs/protocol.md §13.4).

Every answer is HTTP 200, as OK's REST answers are; an error is told by the header and the body
(okru's choice where OK is silent: an HTTP error status, which one public server sends, is not
what OK's own pages show).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from okru_proto import UsageError

from ._payment import PaymentError, PaymentRejected, _check_code, _error_msg

__all__ = ["REPLY_FORMATS", "PaymentReply", "ReplyFormat", "error_reply", "payment_reply"]

ReplyFormat = Literal["xml", "json"]
REPLY_FORMATS: tuple[ReplyFormat, ...] = ("xml", "json")

_NS = "http://api.forticom.com/1.0/"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
#: The success body of the callbacks.payment page (one line, as public servers send it).
SUCCESS_XML = f'{_DECLARATION}<callbacks_payment_response xmlns="{_NS}">true</callbacks_payment_response>'.encode()
_TYPES = {"xml": "application/xml", "json": "application/json"}
_SUCCESS = {"xml": SUCCESS_XML, "json": b"true"}


@dataclass(frozen=True, slots=True)
class PaymentReply:
    """One answer to OK: ``status`` (always 200), ``headers`` (lower-case names: ``content-type``,
    and ``invocation-error`` on an error), ``body``; ``code`` is None for success, else the error
    code; ``error_msg`` its text."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    code: int | None = None
    error_msg: str | None = None

    @property
    def ok(self) -> bool:
        """True for the success answer ("credited")."""
        return self.code is None


def _check_format(format: str) -> ReplyFormat:
    if format not in _TYPES:
        raise UsageError(f"format is 'xml' (OK's documented answer) or 'json', not {format!r}")
    return format  # type: ignore[return-value]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def error_reply(code: int, error_msg: str | None = None, *, format: ReplyFormat = "xml") -> PaymentReply:
    """The answer for error ``code`` (one of :data:`PAYMENT_ERRORS`) with ``error_msg`` as the
    whole text (default ``"SYMBOL : OK's text"``), header ``Invocation-error: <code>``."""
    kind = _check_format(format)
    code = _check_code(code)
    text = _error_msg(code, None) if error_msg is None else "".join(
        c if c.isprintable() else " " for c in error_msg)
    if kind == "xml":
        body = (f"{_DECLARATION}<ns2:error_response xmlns:ns2='{_NS}'><error_code>{code}</error_code>"
                f"<error_msg>{_escape(text)}</error_msg></ns2:error_response>").encode()
    else:
        body = json.dumps({"error_code": code, "error_msg": text, "error_data": None},
                          ensure_ascii=False, separators=(",", ":")).encode()
    return PaymentReply(200, (("content-type", _TYPES[kind]), ("invocation-error", str(code))), body,
                        code, text)


def payment_reply(error: PaymentError | PaymentRejected | None = None, *,
                  format: ReplyFormat = "xml") -> PaymentReply:
    """The answer to a payment callback: success ("credited") without ``error``, else the error
    answer for its ``code`` and ``error_msg``; ``format`` ``"xml"`` (OK's documented one, the
    default) or ``"json"``."""
    kind = _check_format(format)
    if error is None:
        return PaymentReply(200, (("content-type", _TYPES[kind]),), _SUCCESS[kind])
    if not isinstance(error, (PaymentError, PaymentRejected)):
        raise UsageError(f"payment_reply takes a PaymentError or PaymentRejected, not {type(error).__name__}")
    return error_reply(error.code, error.error_msg, format=kind)
