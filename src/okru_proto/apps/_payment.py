"""OK.ru's ``callbacks.payment`` call, read and checked: :func:`parse_payment` turns its GET
parameters into a :class:`Payment` once the signature is OK's, :func:`check_price` holds it to the
game's own price list, and the error codes OK understands live here (docs/protocol.md §13.3).

A game's handler refuses a payment by raising :class:`PaymentRejected`; okru's own refusals are
:class:`PaymentError`. Both carry the code and the ``error_msg`` text OK is answered with
(``_reply`` writes the answer).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from okru_proto import ProtocolError, Secret, UsageError

from ._launch import Params
from ._signed import BadParams, digest_matches, read_params, same_text, sig_of

__all__ = [
    "CALLBACK_INVALID_PAYMENT",
    "OK_PAYMENT_NETWORKS",
    "PARAM_SIGNATURE",
    "PAYMENT_ERRORS",
    "SERVICE",
    "Payment",
    "PaymentError",
    "PaymentRejected",
    "check_price",
    "parse_payment",
]

#: Where OK's payment callbacks come from (callbacks.payment page, the same three ranges as its
#: webhooks; docs/protocol.md §13.3).
OK_PAYMENT_NETWORKS = ("217.20.145.192/28", "217.20.151.160/28", "217.20.153.48/28")

#: ``SERVICE``: "service temporarily unavailable"; the one code okru answers when OK should try
#: again (its next attempt comes 5 s later, at most 3 in all).
SERVICE = 2
#: ``PARAM_SIGNATURE``: the ``sig`` is missing or wrong.
PARAM_SIGNATURE = 104
#: ``CALLBACK_INVALID_PAYMENT``: "payment is invalid and can not be processed".
CALLBACK_INVALID_PAYMENT = 1001

#: The error codes of the callbacks.payment page: code -> (symbol, OK's text). Only these are
#: answered (docs/protocol.md §13.3).
PAYMENT_ERRORS: Mapping[int, tuple[str, str]] = {
    1: ("UNKNOWN", "Unknown error"),
    SERVICE: ("SERVICE", "Service temporary unavailable"),
    PARAM_SIGNATURE: ("PARAM_SIGNATURE", "Invalid signature"),
    CALLBACK_INVALID_PAYMENT: ("CALLBACK_INVALID_PAYMENT", "Payment is invalid and can not be processed"),
    9999: ("SYSTEM", "Critical system error"),
}

#: The longest ``error_msg`` okru sends (a handler's message is cut there).
MAX_MESSAGE = 500
_LONGEST_NUMBER = 18  # digits: fits a signed 64-bit Long, as OK's amounts and trial days do


def _check_code(code: object) -> int:
    if type(code) is not int or code not in PAYMENT_ERRORS:
        raise UsageError(f"a payment error code is one of OK's {sorted(PAYMENT_ERRORS)} "
                         f"(callbacks.payment), not {code!r}")
    return code


def _error_msg(code: int, text: str | None) -> str:
    symbol, default = PAYMENT_ERRORS[code]
    text = default if text is None else "".join(c if c.isprintable() else " " for c in str(text))
    return f"{symbol} : {text}"[:MAX_MESSAGE]


class PaymentError(ProtocolError):
    """A payment callback okru refuses before the game's handler sees it: ``code`` is what OK is
    answered (104: ``sig`` missing or wrong; 1001: a field missing or malformed, a wrong price, an
    unknown product), ``error_msg`` the text sent with it. Never holds a secret."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"payment callback refused ({code}): {detail}")
        self.code = _check_code(code)
        self.error_msg = _error_msg(code, detail)


class PaymentRejected(Exception):
    """Raised by a game's payment handler to refuse a payment: OK is answered ``code`` (one of
    :data:`PAYMENT_ERRORS`; default 1001) with ``message`` (default: OK's text for the code).

    The refusal is final and recorded, so OK's repeats get it again, except code 2 (``SERVICE``):
    that asks OK to try again, and the next try runs the handler again."""

    def __init__(self, code: int = CALLBACK_INVALID_PAYMENT, message: str | None = None) -> None:
        self.code = _check_code(code)
        self.error_msg = _error_msg(code, message)
        super().__init__(self.error_msg)


@dataclass(frozen=True, slots=True)
class Payment:
    """One ``callbacks.payment`` call whose signature is OK's (docs/protocol.md §13.3).

    ``transaction_id`` is OK's unique id of the payment; it is empty for some subscription events
    (trial start, cancellation). ``amount`` is what the user paid, in OKs unless ``currency``
    says otherwise. ``extra_attributes`` is the JSON the game's page passed to
    ``FAPI.UI.showPayment``: written by the user's browser, so never a source of a price or of
    whom to credit. ``raw`` holds every parameter as received."""

    uid: str
    transaction_id: str
    transaction_time: str
    product_code: str | None
    product_option: str | None
    amount: int
    currency: str | None
    payment_system: str | None
    extra_attributes: Any
    trial_days: int | None
    card_promo: bool | None
    application_key: str | None
    raw: Params


def _number(text: str, name: str) -> int:
    if not (text.isdigit() and text.isascii()) or len(text) > _LONGEST_NUMBER:
        raise PaymentError(CALLBACK_INVALID_PAYMENT, f"{name} is not a whole number of at most "
                           f"{_LONGEST_NUMBER} digits")
    return int(text)


def parse_payment(params: Mapping[str, str] | str, *, app_secret_key: Secret | str,
                  application_key: str | None = None) -> Payment:
    """The :class:`Payment` in ``params`` (a mapping, or the callback's URL or query string).

    First the signature: ``sig`` over every parameter but itself with the application secret key,
    compared in constant time (:class:`PaymentError` code 104). Then the fields (code 1001):
    ``uid``, ``transaction_id`` (present, possibly empty), ``transaction_time``, ``amount`` (a
    whole number) required; ``trial_days`` a whole number and ``extra_attributes`` JSON when sent;
    ``method``, when sent, ``callbacks.payment``; ``application_key``, when both sent and given,
    this app's (OK does not say it sends it: a callback without one is accepted)."""
    if type(app_secret_key) is not str:
        app_secret_key = app_secret_key.reveal() if isinstance(app_secret_key, Secret) else app_secret_key
        if not isinstance(app_secret_key, str):
            raise UsageError("app_secret_key must be the application's secret key (a non-empty str)")
    if not app_secret_key:
        raise UsageError("app_secret_key must be the application's secret key (a non-empty str)")
    try:
        received = read_params(params)
        expected = sig_of(received, app_secret_key)
    except BadParams as exc:
        raise PaymentError(CALLBACK_INVALID_PAYMENT, str(exc)) from None
    get = received.get
    sig = get("sig")
    if not sig:
        raise PaymentError(PARAM_SIGNATURE, "sig missing")
    if not digest_matches(expected, sig):
        raise PaymentError(PARAM_SIGNATURE, "sig does not match: not signed by OK.ru with this app's "
                           "secret key, or changed after signing")
    method = get("method")
    if method is not None and method != "callbacks.payment":
        raise PaymentError(CALLBACK_INVALID_PAYMENT, "method is not callbacks.payment")
    sent_key = get("application_key")
    if application_key is not None and sent_key is not None and not same_text(application_key, sent_key):
        raise PaymentError(CALLBACK_INVALID_PAYMENT, "application_key is another app's")
    transaction_id = get("transaction_id")
    if transaction_id is None:
        raise PaymentError(CALLBACK_INVALID_PAYMENT, "transaction_id missing")
    uid, transaction_time, amount = get("uid"), get("transaction_time"), get("amount")
    if not uid or not transaction_time or amount is None:
        for name in ("uid", "transaction_time", "amount"):
            if not get(name):
                raise PaymentError(CALLBACK_INVALID_PAYMENT, f"{name} missing or empty")
    extra: Any = None
    extra_text = get("extra_attributes")
    if extra_text:
        try:
            extra = json.loads(extra_text)
        except (ValueError, RecursionError):
            raise PaymentError(CALLBACK_INVALID_PAYMENT, "extra_attributes is not JSON") from None
    card_promo = get("card_promo")
    trial_days = get("trial_days")
    assert uid is not None and transaction_time is not None and amount is not None
    return Payment(uid, transaction_id, transaction_time, get("product_code") or None,
                   get("product_option") or None, _number(amount, "amount"), get("currency") or None,
                   get("payment_system") or None, extra, None if not trial_days else _number(trial_days, "trial_days"),
                   None if not card_promo else card_promo.strip().lower() in ("1", "true"), sent_key,
                   Params(received))


def check_price(payment: Payment, prices: Mapping[str, int]) -> None:
    """Refuse (:class:`PaymentError` 1001) a payment for a product not in ``prices`` (product
    code -> price in OKs) or whose ``amount`` is not that price: OK's page warns that a server
    which does not check the product and the price can be sold anything for anything."""
    code = payment.product_code
    if code is None:
        raise PaymentError(CALLBACK_INVALID_PAYMENT, "product_code missing")
    price = prices.get(code)
    if price is None:
        raise PaymentError(CALLBACK_INVALID_PAYMENT, "unknown product_code")
    if payment.amount != price:
        raise PaymentError(CALLBACK_INVALID_PAYMENT, "amount is not the product's price")
