"""okru_proto.apps: the server side of an OK.ru game or mini-app, pure (docs/apps.md,
docs/protocol.md §13).

* Launches: :func:`verify_launch` checks the parameters OK appends to an iframe app's URL
  (``sig`` and ``auth_sig``, in constant time) and returns a :class:`Launch`;
  :meth:`Launch.session_options` calls REST as the launched user on any adapter
  (``ClientSession(app_id, **launch.session_options())``), only ever on OK's hosts
  (:data:`OK_API_HOSTS`). Failures are :class:`LaunchError`.
* Payments: :func:`parse_payment` checks and reads OK's ``callbacks.payment`` call into a
  :class:`Payment` (failures: :class:`PaymentError` with OK's code), :func:`check_price` holds it
  to the game's prices; a game's handler refuses one with :class:`PaymentRejected`; and
  :func:`payment_reply` / :func:`error_reply` build the :class:`PaymentReply` OK is answered
  with (XML, or JSON), ``Invocation-error`` header included.

Nothing here does I/O: the ASGI server app built on it is ``okru_asgi.payments_app``. This
module owns only the list; each name lives with its code.
"""

from __future__ import annotations

from ._launch import OK_API_HOSTS, Launch, LaunchError, LaunchSession, Params, verify_launch
from ._payment import (
    CALLBACK_INVALID_PAYMENT,
    OK_PAYMENT_NETWORKS,
    PARAM_SIGNATURE,
    PAYMENT_ERRORS,
    SERVICE,
    Payment,
    PaymentError,
    PaymentRejected,
    check_price,
    parse_payment,
)
from ._reply import REPLY_FORMATS, PaymentReply, ReplyFormat, error_reply, payment_reply

__all__ = [
    "CALLBACK_INVALID_PAYMENT",
    "OK_API_HOSTS",
    "OK_PAYMENT_NETWORKS",
    "PARAM_SIGNATURE",
    "PAYMENT_ERRORS",
    "REPLY_FORMATS",
    "SERVICE",
    "Launch",
    "LaunchError",
    "LaunchSession",
    "Params",
    "Payment",
    "PaymentError",
    "PaymentRejected",
    "PaymentReply",
    "ReplyFormat",
    "check_price",
    "error_reply",
    "parse_payment",
    "payment_reply",
    "verify_launch",
]
