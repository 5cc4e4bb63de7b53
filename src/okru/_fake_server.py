"""``okru fake-server``: the OK.ru emulator (``okru_proto.testing.FakeOK``) served on loopback.

Options to the emulator (seed, clock, token.do's error status, TLS), the lines a person needs to
use it (its URL, demo app and user, the demo group's bot token and chats, commands to try), and
listen errors worded as what to do. Serving is ``okru_trio.testing.run_fake_server``'s (which
also holds long polls as OK does); delivering the bot's chat events to subscribed webhook URLs,
with OK's redelivery of anything not answered 200, is :class:`WebhookDeliverer`'s.
"""

from __future__ import annotations

import argparse
import sys

from ._args import port_number, positive_number
from ._output import EXIT_INTERRUPTED, EXIT_OK, CLIError

TYPE_CHECKING = False  # not typing's: `okru --help` imports this module; the emulator loads on use
if TYPE_CHECKING:
    from typing import Any

__all__ = ["WebhookDeliverer", "cmd_fake_server", "register", "usable_url"]

#: OK wants a webhook answered within 5 seconds (docs/protocol.md §11.10).
DELIVERY_TIMEOUT = 5.0
#: The longest the deliverer sleeps between looks at the queue (a frozen clock never moves).
_MAX_IDLE = 60.0


def _loopback(url: str) -> bool:
    import ipaddress
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebhookDeliverer:
    """POSTs the emulator's queued chat events (``fake.bots.due()``) to the subscribed URLs in a
    background thread and reports each status (``fake.bots.delivered``), so anything but a 200
    comes again on the emulator's retry schedule, as OK retries. Only loopback URLs are POSTed to
    (the emulator talks to this machine only); any other counts as "no answer". ``speed`` is how
    many emulator seconds pass per real second (the wall clock's ``--clock-speed``)."""

    def __init__(self, fake: Any, *, speed: float = 1.0, log: Any = None) -> None:
        import threading

        self.fake = fake
        self.speed = speed
        self.log = log if log is not None else (lambda line: print(line, file=sys.stderr, flush=True))
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="okru-webhook-deliveries", daemon=True)
        self._warned: set[str] = set()

    def start(self) -> WebhookDeliverer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=DELIVERY_TIMEOUT + 1)

    def _run(self) -> None:
        import httpx

        stop_listening = self.fake.bots.listen(self._wake.set)
        try:
            with httpx.Client(timeout=DELIVERY_TIMEOUT, follow_redirects=False, trust_env=False) as client:
                while not self._stopping:
                    self._wake.clear()
                    for delivery in self.fake.bots.due():
                        if self._stopping:
                            break
                        self.fake.bots.delivered(delivery, self._post(client, delivery))
                    due = self.fake.bots.next_due()
                    idle = _MAX_IDLE if due is None else min(_MAX_IDLE, max(0.0, due - self.fake.now) / self.speed)
                    self._wake.wait(idle)
        finally:
            stop_listening()

    def _post(self, client: Any, delivery: Any) -> int | None:
        import httpx

        kind = delivery.event.get("webhookType", "an event")
        if not _loopback(delivery.url):
            if delivery.url not in self._warned:
                self._warned.add(delivery.url)
                self.log(f"webhook {delivery.url}: not a loopback address; the emulator delivers only to this "
                         "machine (the event counts as not answered)")
            return None
        try:
            status = client.post(delivery.url, content=delivery.body,
                                 headers={"content-type": "application/json;charset=utf-8"}).status_code
        except httpx.HTTPError as exc:
            self.log(f"webhook {delivery.url}: {kind} not delivered ({type(exc).__name__}); OK retries later")
            return None
        retry = "" if status == 200 else "; OK retries later"
        self.log(f"webhook {delivery.url}: {kind} (attempt {delivery.attempt + 1}) -> HTTP {status}{retry}")
        return int(status)



def _http_status(text: str) -> int:
    if not text.isdigit() or not 200 <= int(text) <= 599:
        raise argparse.ArgumentTypeError(f"must be an HTTP status from 200 to 599, not {text!r}")
    return int(text)


def _emulator_clock(args: argparse.Namespace) -> tuple[Any, str]:
    """The fake-server's clock and a line describing it. Real time by default: people log in
    and wait, so codes and tokens must age as on OK.ru (docs/protocol.md §3.1, §3.5)."""
    import time

    from okru_proto.testing import FakeClock, WallClock

    if args.clock == "frozen":
        if args.clock_speed is not None:
            raise CLIError("--clock-speed needs the wall clock", "drop --clock frozen, or --clock-speed")
        return FakeClock(start=time.time()), "frozen (codes and tokens never expire)"
    speed = args.clock_speed or 1.0
    ages = "codes live 2 minutes, access tokens 30 minutes, refresh tokens 30 days"
    if speed == 1.0:
        return WallClock(), f"wall clock ({ages})"
    return WallClock(speed), f"wall clock x{speed:g} ({ages} of emulator time)"


def cmd_fake_server(args: argparse.Namespace) -> int:
    import contextlib
    import ssl
    import threading

    from okru_proto.testing import FakeOK
    from okru_trio.testing import run_fake_server

    if bool(args.tls_cert) != bool(args.tls_key):
        raise CLIError("--tls-cert and --tls-key go together", "pass both PEM files, or neither")
    context: ssl.SSLContext | None = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise CLIError(f"cannot load the TLS certificate/key: {exc}", "pass PEM files") from exc
    clock, clock_text = _emulator_clock(args)
    fake = FakeOK(seed=args.seed, clock=clock)
    fake.oauth_error_status = args.oauth_error_status
    fake.payments.callback_url = _payment_callback(args)
    try:
        server = run_fake_server(fake, host=args.host, port=args.port, ssl_context=context)
        bound = server.__enter__()
    except OSError as exc:
        raise _listen_error(exc, args.host, args.port) from exc
    with contextlib.ExitStack() as stack:
        stack.push(server)
        url = usable_url(bound)
        if url != bound:
            print(f"listening on {bound} (every address of this machine); from here use {url}",
                  file=sys.stderr, flush=True)
        print(url, flush=True)
        print(f"OK.ru emulator on {url} (Ctrl-C stops it). Its demo app and user (public demo values, "
              "not secrets):", flush=True)
        print(f"  app_id={fake.app_id} app_key={fake.app_key} app_secret_key={fake.app_secret_key}", flush=True)
        print(f"  user_login={fake.user_login} user_password={fake.user_password} user_id={fake.user_id}",
              flush=True)
        print(f"Clock: {clock_text}; token.do errors use HTTP {fake.oauth_error_status}.", flush=True)
        print(f"Try: okru login --api-url {url} --app-id {fake.app_id} --app-key {fake.app_key} "
              f"--app-secret-key {fake.app_secret_key}", flush=True)
        print(f"  (no browser: add --password --user {fake.user_login}; the password is asked for)", flush=True)
        bots = fake.bots
        print(f"Bot API: the group {bots.group_id} ({bots.name}), its token (a demo value) "
              f"bot_token={bots.access_token}", flush=True)
        for chat in bots.chats.values():
            print(f"  chat_id={chat.chat_id} ({chat.title}; members {', '.join(chat.participants)})", flush=True)
        print(f"Try: export OKRU_API_URL={url} OKRU_BOT_TOKEN={bots.access_token}; then okru bot run "
              "mybot:router --poll, and in another shell okru bot fake-message "
              f"{bots.chat_id} 'привет' (a member writes; webhook subscribers get it POSTed)", flush=True)
        deliverer = WebhookDeliverer(fake, speed=getattr(clock, "speed", 1.0)).start()
        stack.callback(deliverer.stop)
        if fake.payments.callback_url is not None:
            _start_payments(fake, url, args, stack)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            # 130 = 128 + SIGINT, as a shell reports a command stopped by Ctrl-C.
            print("stopped", file=sys.stderr, flush=True)
            return EXIT_INTERRUPTED
    return EXIT_OK  # not reached: only Ctrl-C (or a signal) ends the wait


def _payment_callback(args: argparse.Namespace) -> str | None:
    from urllib.parse import urlsplit

    if args.payment_callback is None:
        if args.app_url is not None:
            raise CLIError("--app-url goes with --payment-callback", "pass the game's callback URL too")
        return None
    for name, value in (("--payment-callback", args.payment_callback), ("--app-url", args.app_url)):
        if value is not None and (urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname):
            raise CLIError(f"{name} {value!r} is not an http(s) URL", "e.g. http://127.0.0.1:8000/ok/payment")
    return str(args.payment_callback)


def _start_payments(fake: Any, url: str, args: argparse.Namespace, stack: Any) -> None:
    """Purchases through ``GET {url}/fake/payment`` call the game's callback (okru purchase's
    delivery, in a thread); the lines that say how."""
    import threading

    from ._purchase import start_delivery

    stop = threading.Event()
    start_delivery(fake, stop, timeout=10.0)
    stack.callback(stop.set)
    print(f"Payments: GET {url}/fake/payment?product_code=CODE&amount=OKS is a user buying CODE; OK's "
          f"callbacks.payment calls go to {fake.payments.callback_url} (3 tries, 5 s apart), one JSON line per try",
          flush=True)
    if args.app_url is not None:
        # The demo user's launch, its REST calls pointed at this emulator (a game passes
        # session_options(endpoints=...) for a host that is not OK's).
        print(f"Launch: {fake.payments.launch_url(args.app_url, api_server=url + '/')}", flush=True)


def usable_url(url: str) -> str:
    """``url`` with a wildcard host (0.0.0.0, ::) replaced by the loopback address of the same
    family: a server listens on a wildcard, but a client cannot connect to it (and okru allows
    plain http only to loopback)."""
    scheme, sep, rest = url.partition("://")
    host, colon, port = rest.rpartition(":")
    loopback = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "::": "[::1]", "": "127.0.0.1"}.get(host)
    if not sep or not colon or loopback is None:
        return url
    return f"{scheme}://{loopback}:{port}"


def _listen_error(exc: OSError, host: str, port: int) -> CLIError:
    import errno
    import socket

    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return CLIError(f"cannot listen on {where}: the port is in use (another okru fake-server?)",
                        "pick another --port, or --port 0 for any free port")
    if exc.errno == errno.EACCES:
        return CLIError(f"cannot listen on {where}: permission denied (ports below 1024 need privileges)",
                        "use a port above 1023, or --port 0 for any free port")
    if exc.errno == errno.EADDRNOTAVAIL:
        return CLIError(f"cannot listen on {where}: {host} is not an address of this machine",
                        "use --host 127.0.0.1 (the default)")
    if isinstance(exc, socket.gaierror):
        return CLIError(f"cannot listen on {where}: unknown host {host!r}", "use --host 127.0.0.1 (the default)")
    return CLIError(f"cannot listen on {where}: {exc.strerror or exc}", "try --port 0 or another --host")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``fake-server`` to the main parser's subcommands."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("fake-server", parents=[common], formatter_class=fmt,
                       help="run the OK.ru emulator on loopback until Ctrl-C",
                       description="Run the OK.ru emulator (okru_proto.testing.FakeOK). The first "
                       "output line is its base URL; then the demo app and user.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port_number, default=0, help="default 0: an ephemeral port")
    p.add_argument("--tls-cert", help="PEM certificate chain (serves https)")
    p.add_argument("--tls-key", help="PEM private key for --tls-cert")
    p.add_argument("--seed", type=int, default=0, help="seed for the emulator's tokens and ids")
    p.add_argument("--clock", choices=("wall", "frozen"), default="wall",
                   help="wall (default): codes and tokens age in real time as on OK.ru; frozen: time "
                   "stands still at the start, nothing ever expires")
    p.add_argument("--clock-speed", type=positive_number, metavar="N",
                   help="run the wall clock N times as fast (e.g. 60: a 30-minute token expires in 30 s)")
    p.add_argument("--oauth-error-status", type=_http_status, default=400, metavar="STATUS",
                   help="HTTP status of token.do's JSON errors (default 400; OK.ru's is not documented, "
                   "try 200 too)")
    p.add_argument("--payment-callback", metavar="URL",
                   help="a game's payment callback: GET <emulator>/fake/payment?product_code=...&amount=... "
                   "then makes OK's signed callbacks.payment calls to it")
    p.add_argument("--app-url", metavar="URL",
                   help="with --payment-callback: print the demo user's launch URL of this app")
    p.set_defaults(func=cmd_fake_server)
