"""The emulator's side of an OK.ru game: launch URLs for the demo user and app, and in-game
purchases that call the game's ``callbacks.payment`` as OK does (docs/protocol.md §13).

A purchase (:meth:`FakePayments.purchase`) is what OK does once a user confirms one in
``FAPI.UI.showPayment``: it signs a GET to the game's callback URL and tries it at most 3 times,
5 seconds apart on the emulator's clock; the payment goes through on the first success answer and
is cancelled after three tries without one (:data:`CALL_TRIES`, :data:`CALL_SPACING`). Which
answers count as success is the emulator's reading of OK's page (§13.4): HTTP 200, no
``Invocation-error`` header, and the documented body (XML ``callbacks_payment_response`` holding
``true``, or JSON ``true``); anything else is retried.

Nothing here sends (the emulator does no I/O): :meth:`FakePayments.request` gives the GET to
send now, :meth:`FakePayments.report` takes the answer (or None: no answer) and schedules the next
try, and :meth:`FakePayments.run` drives all tries through a ``send`` function the caller brings
(``okru_pytest``'s ``ok_payments`` and ``okru purchase`` bring one over httpx).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode, urlsplit
from xml.etree import ElementTree

from .._errors import UsageError
from .._values import Request, Response
from .._wire.sign import sign
from ._http import Incoming, plain_json
from ._token import auth_sig

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["CALL_SPACING", "CALL_TRIES", "FakePayments", "PaymentAttempt", "Purchase", "payment_endpoint",
           "payments_of"]

#: OK calls a game's callback at most this many times per payment (callbacks.payment page).
CALL_TRIES = 3
#: Seconds between two calls for one payment (callbacks.payment page).
CALL_SPACING = 5.0
#: The address OK's calls come from (inside its first published range, docs/protocol.md §13.3).
SOURCE_ADDRESS = "217.20.145.193"

PurchaseState = Literal["pending", "completed", "cancelled"]


@dataclass(frozen=True)
class PaymentAttempt:
    """One call OK made: when (emulator time), the HTTP ``status`` (None: no answer), the
    ``Invocation-error`` code if any, whether it counted as success, and what was wrong."""

    time: float
    status: int | None
    error_code: int | None
    success: bool
    problem: str | None = None


@dataclass
class Purchase:
    """One in-game payment: what the user bought, the signed ``params`` OK sends for it, its
    ``state`` (``pending`` while OK still tries, then ``completed`` or ``cancelled``), every
    ``attempts`` made, and when the next try is ``due`` (emulator time; None once finished)."""

    transaction_id: str
    uid: str
    product_code: str | None
    amount: int
    callback_url: str
    params: dict[str, str]
    state: PurchaseState = "pending"
    attempts: list[PaymentAttempt] = field(default_factory=list)
    due: float | None = None

    @property
    def went_through(self) -> bool:
        """True once a call was answered with success: the user paid and the game credited."""
        return self.state == "completed"

    @property
    def url(self) -> str:
        """The GET URL OK calls (the callback URL with the signed parameters)."""
        joiner = "&" if urlsplit(self.callback_url).query else "?"
        return f"{self.callback_url}{joiner}{urlencode(self.params)}"


def _success(response: Response) -> tuple[bool, int | None, str | None]:
    """(success, Invocation-error code, what was wrong) for one answer."""
    header = response.header("invocation-error")
    code = int(header) if header is not None and header.strip().isdigit() else None
    if response.status != 200:
        return False, code, f"HTTP {response.status}"
    if header is not None:
        return False, code, None
    body = response.body.strip()
    if body == b"true":
        return True, None, None
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return False, None, "neither OK's XML nor JSON success body"
    if root.tag.endswith("callbacks_payment_response") and (root.text or "").strip() == "true":
        return True, None, None
    if root.tag.endswith("error_response"):
        return False, None, "an error body without the Invocation-error header"
    return False, None, "an XML body that is not callbacks_payment_response"


class FakePayments:
    """The payments side of a :class:`~okru_proto.testing.FakeOK` (``fake.payments``): launches
    of the demo app and user, and purchases that call a game's callback URL."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: The address OK's calls come from (sent as ``X-Forwarded-For``, as through a proxy).
        self.source_address = SOURCE_ADDRESS
        #: Every purchase by transaction id, oldest first.
        self.purchases: dict[str, Purchase] = {}
        #: The game's callback URL for purchases made through ``GET /fake/payment`` (the
        #: emulator's stand-in for the user confirming ``FAPI.UI.showPayment``); None: off.
        self.callback_url: str | None = None

    # -- launches ------------------------------------------------------------------------
    def launch_params(self, *, app_id: str | None = None, login: str | None = None,
                      api_server: str = "https://api.ok.ru/", web_server: str = "https://ok.ru",
                      refplace: str = "direct", custom_args: str | None = None, first_start: bool = False,
                      mobile: bool = False) -> dict[str, str]:
        """The parameters OK appends to the app's URL when ``login`` (the demo user) opens
        ``app_id`` (the demo app): a fresh session (``session_key`` + ``session_secret_key``,
        usable for REST calls on this emulator), ``auth_sig`` and ``sig`` (DOC-APP)."""
        store = self.store
        with store.lock:
            app = store.apps.get(app_id or "512000000001")
            user = store.user_by_login(login or "demo")
            if app is None or user is None:
                raise UsageError(f"no app {app_id!r} or no user {login!r} in the emulator")
            granted = store.grantable(app, ("VALUABLE_ACCESS",))
            user.grants.setdefault(app.app_id, set()).update(granted)
            token = store.new_access_token(app, user.uid, granted, with_session_secret=True)
            assert token.session_secret_key is not None
            params = {
                "api_server": api_server, "apiconnection": f"{app.app_id}_{int(store.now * 1000)}",
                "application_key": app.app_key, "authorized": "1", "logged_user_id": user.uid,
                "session_key": token.token, "session_secret_key": token.session_secret_key,
                "auth_sig": auth_sig(user.uid, token.token, app), "refplace": refplace,
                "web_server": web_server, "first_start": "1" if first_start else "0",
            }
            if mobile:
                params.update(mob="true", mob_platform="mobweb")
            else:
                params["container"] = "true"
            if custom_args is not None:
                params["custom_args"] = custom_args
            params["sig"] = sign(params, app.app_secret_key)
            return params

    def launch_url(self, app_url: str, **options: Any) -> str:
        """``app_url`` with :meth:`launch_params` appended, as OK opens it in its iframe."""
        joiner = "&" if urlsplit(app_url).query else "?"
        return f"{app_url}{joiner}{urlencode(self.launch_params(**options))}"

    # -- purchases -----------------------------------------------------------------------
    def purchase(self, callback_url: str, *, product_code: str | None, amount: int,
                 app_id: str | None = None, login: str | None = None, product_option: str | None = None,
                 extra_attributes: Mapping[str, Any] | str | None = None, currency: str | None = None,
                 payment_system: str | None = None, transaction_id: str | None = None,
                 trial_days: int | None = None) -> Purchase:
        """The user ``login`` buys ``product_code`` for ``amount`` OKs in app ``app_id``: OK's
        signed ``callbacks.payment`` for it, due now (send it with :meth:`run`, or
        :meth:`request` and :meth:`report`). ``transaction_id=""`` makes a subscription event."""
        if type(amount) is not int or amount < 0:
            raise UsageError(f"amount is a whole number of OKs >= 0, not {amount!r}")
        if urlsplit(callback_url).scheme not in ("http", "https"):
            raise UsageError(f"callback_url must be an http(s) URL, not {callback_url!r}")
        store = self.store
        with store.lock:
            app = store.apps.get(app_id or "512000000001")
            user = store.user_by_login(login or "demo")
            if app is None or user is None:
                raise UsageError(f"no app {app_id!r} or no user {login!r} in the emulator")
            now = store.now
            txid = store.next_id(1_700_000_000_000) if transaction_id is None else transaction_id
            params = {
                "application_key": app.app_key, "call_id": str(int(now * 1000)), "method": "callbacks.payment",
                "uid": user.uid, "transaction_id": txid,
                # OK's format (callbacks.payment page); the zone is not published: UTC here.
                "transaction_time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)),
                "amount": str(amount),
            }
            optional = {"product_code": product_code, "product_option": product_option, "currency": currency,
                        "payment_system": payment_system,
                        "trial_days": None if trial_days is None else str(trial_days),
                        "extra_attributes": (extra_attributes if isinstance(extra_attributes, str) or
                                             extra_attributes is None else
                                             json.dumps(dict(extra_attributes), ensure_ascii=False,
                                                        separators=(",", ":")))}
            params.update({k: v for k, v in optional.items() if v is not None})
            params["sig"] = sign(params, app.app_secret_key)
            purchase = Purchase(txid, user.uid, product_code, amount, callback_url, params, due=now)
            if txid:
                self.purchases[txid] = purchase
            return purchase

    def request(self, purchase: Purchase) -> Request:
        """The GET OK sends for ``purchase`` now (from :attr:`source_address`, written in
        ``X-Forwarded-For`` as a reverse proxy in front of the game would)."""
        return Request("GET", purchase.url, (("x-forwarded-for", self.source_address),))

    def report(self, purchase: Purchase, response: Response | None) -> PaymentAttempt:
        """Record the answer to the call just made (None: no answer, a timeout or a dropped
        connection): success completes the purchase; otherwise the next try is due 5 s later,
        and after the third the purchase is cancelled (the user's OKs are given back)."""
        with self.store.lock:
            if purchase.state != "pending":
                raise UsageError(f"purchase {purchase.transaction_id!r} is already {purchase.state}")
            now = self.store.now
            if response is None:
                attempt = PaymentAttempt(now, None, None, False, "no answer")
            else:
                success, code, problem = _success(response)
                attempt = PaymentAttempt(now, response.status, code, success, problem)
            purchase.attempts.append(attempt)
            if attempt.success:
                purchase.state, purchase.due = "completed", None
            elif len(purchase.attempts) >= CALL_TRIES:
                purchase.state, purchase.due = "cancelled", None
            else:
                purchase.due = now + CALL_SPACING
            return attempt

    def due(self) -> list[Purchase]:
        """The pending purchases whose next call is due now."""
        with self.store.lock:
            now = self.store.now
            return [p for p in self.purchases.values() if p.state == "pending" and p.due is not None
                    and p.due <= now]

    def run(self, purchase: Purchase, send: Callable[[Request], Response | None], *,
            wait: Callable[[float], None] | None = None) -> Purchase:
        """Make OK's calls for ``purchase`` until it completes or is cancelled: ``send(request)``
        returns the game's answer (None, or raising, is no answer); between tries ``wait(seconds)``
        lets the time pass (default: the emulator's clock jumps 5 s, nothing waits)."""
        while purchase.state == "pending":
            due = purchase.due if purchase.due is not None else self.store.now
            if due > self.store.now:
                gap = due - self.store.now
                if wait is None:
                    self.store.clock.advance(gap)
                else:
                    wait(gap)
            try:
                response = send(self.request(purchase))
            except Exception:
                response = None
            self.report(purchase, response)
        return purchase


def _purchase_json(purchase: Purchase) -> dict[str, Any]:
    return {"transaction_id": purchase.transaction_id, "state": purchase.state, "due": purchase.due,
            "attempts": [{"time": a.time, "status": a.status, "error_code": a.error_code, "success": a.success,
                          "problem": a.problem} for a in purchase.attempts]}


def payment_endpoint(store: Store, incoming: Incoming) -> Response:
    """``GET /fake/payment`` (the emulator's own, not OK's): with ``product_code`` and
    ``amount`` (and optionally ``extra_attributes``, ``product_option``, ``login``) the user buys
    it, as after confirming ``FAPI.UI.showPayment``: a purchase towards :attr:`callback_url`,
    answered with its transaction id (whoever serves the emulator delivers it); with
    ``transaction_id`` alone, that purchase's state and attempts."""
    payments = payments_of(store)
    params = incoming.params
    if "transaction_id" in params and "amount" not in params:
        found = payments.purchases.get(params["transaction_id"])
        if found is None:
            return plain_json({"error": "no such transaction_id"}, 404)
        return plain_json(_purchase_json(found))
    if payments.callback_url is None:
        return plain_json({"error": "no payment callback URL is set (okru fake-server --payment-callback URL)"}, 409)
    amount = params.get("amount", "")
    if not (amount.isascii() and amount.isdigit()):
        return plain_json({"error": "amount must be a whole number of OKs"}, 400)
    try:
        purchase = payments.purchase(payments.callback_url, product_code=params.get("product_code"),
                                     amount=int(amount), login=params.get("login"),
                                     product_option=params.get("product_option"),
                                     extra_attributes=params.get("extra_attributes"))
    except UsageError as exc:
        return plain_json({"error": str(exc)}, 400)
    return plain_json(_purchase_json(purchase))


def payments_of(store: Store) -> FakePayments:
    """The store's :class:`FakePayments`, created on first use."""
    payments = store.__dict__.get("_payments")
    if payments is None:
        with store.lock:
            payments = store.__dict__.setdefault("_payments", FakePayments(store))
    return payments  # type: ignore[no-any-return]
