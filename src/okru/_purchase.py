"""``okru purchase``: a test purchase against a game's payment callback, from a shell; and the
delivery of purchases for ``okru fake-server --payment-callback``.

OK's side is the emulator's (``okru_proto.testing.FakeOK().payments``): it signs the
``callbacks.payment`` GET with the app's secret key and tries it at most 3 times, 5 seconds apart,
until the game answers with success (docs/protocol.md §13.3, §13.4). Each try is one JSON line on
stdout; the exit code says whether the payment went through (0) or OK would have cancelled it
(1). Requests go through ``httpx``.
"""

from __future__ import annotations

import argparse
import os
import sys

from ._args import positive_number
from ._output import EXIT_API, EXIT_OK, EXIT_USAGE, CLIError, dump_json

TYPE_CHECKING = False  # not typing's: `okru --help` imports this module; the emulator loads on use
if TYPE_CHECKING:
    import threading
    from typing import Any

    from okru_proto.adapter import Request, Response
    from okru_proto.testing import FakeOK, PaymentAttempt, Purchase

__all__ = ["deliver", "register", "start_delivery"]

#: The app a purchase is made in when no key is given: the emulator's demo app.
DEMO_APP_ID = "512000000001"


def _send(client: Any, request: Request) -> Response:
    from okru_proto.adapter import Response

    answer = client.request(request.method, request.url, headers=list(request.headers))
    return Response(answer.status_code, tuple((k.lower(), v) for k, v in answer.headers.multi_items()),
                    answer.content)


def attempt_line(purchase: Purchase, attempt: PaymentAttempt) -> str:
    """One try as a JSON line (seconds since the first try; the answer as OK read it)."""
    first = purchase.attempts[0].time
    return dump_json({"transaction_id": purchase.transaction_id, "try": purchase.attempts.index(attempt) + 1,
                      "after": round(attempt.time - first, 3), "status": attempt.status,
                      "error_code": attempt.error_code, "success": attempt.success, "problem": attempt.problem},
                     indent=None)


def deliver(fake: FakeOK, purchase: Purchase, client: Any) -> PaymentAttempt:
    """Make OK's next call for ``purchase`` over ``client`` (an ``httpx.Client``) and record it."""
    try:
        response: Response | None = _send(client, fake.payments.request(purchase))
    except Exception:  # refused, reset, timed out: OK heard no answer
        response = None
    return fake.payments.report(purchase, response)


def start_delivery(fake: FakeOK, stop: threading.Event, *, timeout: float) -> threading.Thread:
    """A thread that makes every purchase's calls as they fall due (``fake-server``), one JSON
    line per try on stdout, until ``stop`` is set."""
    import threading

    import httpx

    def run() -> None:
        with httpx.Client(timeout=timeout) as client:
            while not stop.wait(0.2):  # the emulator's clock is the wall clock: check five times a second
                for purchase in fake.payments.due():
                    attempt = deliver(fake, purchase, client)
                    print(attempt_line(purchase, attempt), flush=True)

    thread = threading.Thread(target=run, name="okru-payment-delivery", daemon=True)
    thread.start()
    return thread


def _amount(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"must be a whole number of OKs, not {text!r}")
    return int(text)


def cmd_purchase(args: argparse.Namespace) -> int:
    import time
    from urllib.parse import urlsplit

    import httpx

    from okru_proto.testing import FakeOK, WallClock

    if urlsplit(args.url).scheme not in ("http", "https") or not urlsplit(args.url).hostname:
        raise CLIError(f"{args.url!r} is not an http(s) URL", "give the game's payment callback URL, "
                       "e.g. http://127.0.0.1:8000/ok/payment")
    speed = args.clock_speed or 1.0
    fake = FakeOK(clock=WallClock(speed))
    app_key = args.app_key or os.environ.get("OKRU_APP_KEY")
    secret = args.app_secret_key or os.environ.get("OKRU_APP_SECRET_KEY")
    if secret:
        if not app_key:
            raise CLIError("--app-secret-key needs --app-key (OKRU_APP_KEY)", "pass your app's public key too",
                           EXIT_USAGE)
        # Your app takes the demo app's place in this throwaway emulator.
        fake.add_app(DEMO_APP_ID, app_key, secret, redirect_uris=(), client_oauth=False, permissions=())
    elif app_key:
        raise CLIError("--app-key needs --app-secret-key (OKRU_APP_SECRET_KEY)",
                       "pass both, or neither for the emulator's demo app", EXIT_USAGE)
    login = None
    if args.uid:
        login = f"user{args.uid}"
        fake.add_user(login, "-", uid=args.uid, first_name="Test", last_name="Buyer")
    transaction_id = args.transaction_id
    if transaction_id is None:
        import secrets

        # A new id on every run (a fresh emulator's counter would repeat): the game must see a new payment.
        transaction_id = f"{int(time.time() * 1000)}{secrets.randbelow(1000):03d}"
    try:
        purchase = fake.payments.purchase(args.url, product_code=args.product_code, amount=args.amount,
                                          app_id=DEMO_APP_ID, login=login, product_option=args.product_option,
                                          extra_attributes=args.extra_attributes, currency=args.currency,
                                          transaction_id=transaction_id)
    except Exception as exc:
        raise CLIError(str(exc), "see `okru purchase --help`", EXIT_USAGE) from exc
    fake.payments.source_address = args.source
    which = "the emulator's demo app (app_key CBADEMOAPPKEYBABA)" if not secret else f"app_key {app_key}"
    print(f"purchase {purchase.transaction_id}: {args.product_code or '-'} for {args.amount} OKs, signed for "
          f"{which}; OK's calls go to {args.url}", file=sys.stderr, flush=True)
    with httpx.Client(timeout=args.timeout) as client:
        while purchase.state == "pending":
            gap = (purchase.due or 0.0) - fake.now
            if gap > 0:
                time.sleep(gap / speed)  # OK's 5 s between tries, on the emulator's (maybe faster) clock
            attempt = deliver(fake, purchase, client)
            print(attempt_line(purchase, attempt), flush=True)
    tries = len(purchase.attempts)
    if purchase.went_through:
        print(f"went through on try {tries}: the game answered success", file=sys.stderr, flush=True)
        return EXIT_OK
    print(f"cancelled after {tries} tries without a success answer: OK would give the user's OKs back",
          file=sys.stderr, flush=True)
    return EXIT_API


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``purchase`` to the main parser's subcommands."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("purchase", parents=[common], formatter_class=fmt,
                       help="make a test purchase: OK's signed callbacks.payment calls to a game's server",
                       description="Play OK.ru's side of an in-game purchase against URL (the game's payment "
                       "callback): signed GETs, at most 3 tries 5 s apart until the game answers success. "
                       "Each try is a JSON line; exit 0 if the payment went through, 1 if OK would cancel it. "
                       "Signed for the emulator's demo app unless --app-key/--app-secret-key "
                       "(OKRU_APP_KEY/OKRU_APP_SECRET_KEY) name yours.")
    p.add_argument("url", metavar="URL", help="the game's payment callback URL")
    p.add_argument("--product-code", required=True, metavar="CODE")
    p.add_argument("--amount", required=True, type=_amount, metavar="OKS", help="the price paid, in OKs")
    p.add_argument("--product-option", metavar="OPTION")
    p.add_argument("--extra-attributes", metavar="JSON", help="what the game's page passed to showPayment")
    p.add_argument("--currency", metavar="CURRENCY")
    p.add_argument("--transaction-id", metavar="ID",
                   help="default: a new one; the same one again repeats a purchase; '' a subscription event")
    p.add_argument("--uid", metavar="UID", help="the buyer's user id (default: the emulator's demo user)")
    p.add_argument("--app-key", help="your app's public key (OKRU_APP_KEY)")
    p.add_argument("--app-secret-key", help="your app's secret key (OKRU_APP_SECRET_KEY); never printed")
    p.add_argument("--source", default="217.20.145.193", metavar="ADDRESS",
                   help="the address written in X-Forwarded-For (default: inside OK's published range)")
    p.add_argument("--timeout", type=positive_number, default=10.0, metavar="SECONDS", help="per try (default 10)")
    p.add_argument("--clock-speed", type=positive_number, metavar="N",
                   help="run OK's clock N times as fast (e.g. 10: the 5 s between tries take 0.5 s)")
    p.set_defaults(func=cmd_purchase)
