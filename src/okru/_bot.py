"""``okru bot``: a group's chat bot from the command line.

``info``, ``send``, ``chats``, ``history``, ``subscribe``/``unsubscribe``, ``serve`` (a webhook
receiver that prints events; it needs the token only to answer, with ``--echo``), ``run`` (your
:class:`~okru_proto.bots.Router` by long polling or behind a webhook), and, against the emulator
only, ``fake-message``/``fake-press`` (a member writes or presses a button). The group token comes
from ``--access-token`` or ``OKRU_BOT_TOKEN``; the API base from ``--api-url`` or ``OKRU_API_URL``
(the emulator's URL to try things locally). Requests go through ``okru_httpx``'s ``BotSession``;
the webhook commands run ``okru_asgi.webhook_app`` under uvicorn.
"""

from __future__ import annotations

import argparse
import os
import sys

from ._args import port_number
from ._output import EXIT_AUTH, EXIT_INTERRUPTED, EXIT_OK, EXIT_TRANSPORT, EXIT_USAGE, CLIError, dump_json

TYPE_CHECKING = False  # not typing's: `okru --help` imports this module; the core loads on use
if TYPE_CHECKING:
    from typing import Any

    from okru_proto import Endpoints

__all__ = ["add_bot_parser"]

TOKEN_ENV = "OKRU_BOT_TOKEN"


def _token(args: argparse.Namespace) -> str:
    token = args.access_token or os.environ.get(TOKEN_ENV)
    if not token:
        raise CLIError("no group token", f"pass --access-token or set {TOKEN_ENV} (the group's settings: "
                       "Управление → Работа с API → Получить ключ доступа)", EXIT_USAGE)
    return str(token)


def _endpoints(args: argparse.Namespace) -> Endpoints:
    from okru_proto import Endpoints

    api = args.api_url or os.environ.get("OKRU_API_URL")
    return Endpoints(api=api) if api else Endpoints()


def cmd_bot_info(args: argparse.Namespace) -> int:
    from okru_httpx.sync import BotSession

    with BotSession(_token(args), endpoints=_endpoints(args), timeout=args.timeout) as bot:
        info = bot.info()
    print(dump_json({"name": info.name, "group_id": info.group_id}))
    return EXIT_OK


def cmd_bot_send(args: argparse.Namespace) -> int:
    from okru_httpx.sync import BotSession

    with BotSession(_token(args), endpoints=_endpoints(args), timeout=args.timeout) as bot:
        sent = bot.send(args.chat, args.text)
    print(dump_json({"chat_id": args.chat, "message_id": sent.message_id}))
    return EXIT_OK


def _bot(args: argparse.Namespace, **options: Any) -> Any:
    from okru_httpx.sync import BotSession

    return BotSession(_token(args), endpoints=_endpoints(args), timeout=args.timeout, **options)


def cmd_bot_chats(args: argparse.Namespace) -> int:
    with _bot(args) as bot:
        for n, chat in enumerate(bot.chats(count=args.count)):
            if args.limit is not None and n >= args.limit:
                break
            print(dump_json({"chat_id": chat.chat_id, "title": chat.title, "type": chat.type,
                             "status": chat.status, "members": len(chat.participants),
                             "last_event_time": chat.last_event_time}, indent=None), flush=True)
    return EXIT_OK


def cmd_bot_history(args: argparse.Namespace) -> int:
    with _bot(args) as bot:
        for n, message in enumerate(bot.history(args.chat, include_deleted=args.include_deleted or None)):
            if n >= args.limit:
                break
            print(dump_json({"mid": message.mid, "timestamp": message.timestamp, "sender_id": message.sender_id,
                             "sender_name": message.sender_name, "text": message.text,
                             "attachments": [a.type for a in message.attachments]}, indent=None), flush=True)
    return EXIT_OK


def cmd_bot_subscribe(args: argparse.Namespace) -> int:
    if (args.url is None) == (not args.long_polling):
        raise CLIError("subscribe takes a webhook URL or --long-polling (one of them)",
                       "see `okru bot subscribe --help`", EXIT_USAGE)
    with _bot(args) as bot:
        if args.unsubscribe:
            if args.url is None:
                raise CLIError("--unsubscribe takes the webhook URL to drop", "okru bot subscribe URL --unsubscribe",
                               EXIT_USAGE)
            bot.unsubscribe(args.url)
        else:
            bot.subscribe(args.url, types=args.type, long_polling=args.long_polling)
        listed = bot.subscriptions()
    print(dump_json({"subscriptions": [{"url": s.url, "long_polling": s.long_polling, "types": list(s.types),
                                        "time": s.time} for s in listed]}))
    return EXIT_OK


def _fake_control(args: argparse.Namespace, what: str, body: dict[str, Any]) -> Any:
    """POST to the emulator's own controls (``/fake/bots/...``): not part of OK's API."""
    import httpx

    api = _endpoints(args).api
    if args.user:
        body["user_id"] = args.user
    try:
        reply = httpx.post(f"{api}/fake/bots/{what}", params={"access_token": _token(args)}, json=body,
                           timeout=args.timeout)
        value = reply.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise CLIError(f"the emulator at {api} did not answer ({type(exc).__name__})",
                       "start it with `okru fake-server` and pass its URL as --api-url", EXIT_TRANSPORT) from exc
    if not isinstance(value, dict) or reply.status_code != 200:
        raise CLIError(f"{api} is not okru's emulator (HTTP {reply.status_code})",
                       "fake-message and fake-press work only against `okru fake-server`", EXIT_TRANSPORT)
    if "error_code" in value:
        if value["error_code"] in (102, 103):
            raise CLIError("the emulator refused the token", "use the demo group token `okru fake-server` printed",
                           EXIT_AUTH)
        raise CLIError(f"the emulator refused: {value.get('error_msg')}", "check the chat id and member",
                       EXIT_USAGE)
    return value


def cmd_bot_fake_message(args: argparse.Namespace) -> int:
    print(dump_json(_fake_control(args, "write", {"chat_id": args.chat, "text": args.text}), indent=None))
    return EXIT_OK


def cmd_bot_fake_press(args: argparse.Namespace) -> int:
    print(dump_json(_fake_control(args, "press", {"chat_id": args.chat, "payload": args.payload}), indent=None))
    return EXIT_OK


def load_router(spec: str) -> Any:
    """The :class:`~okru_proto.bots.Router` named ``module:attribute`` (the module is imported
    with the current directory on ``sys.path``, as uvicorn does)."""
    import importlib

    from okru_proto.bots import Router

    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise CLIError(f"{spec!r} is not MODULE:ROUTER", "e.g. `okru bot run mybot:router --poll`", EXIT_USAGE)
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CLIError(f"cannot import {module_name!r}: {exc}", "run from the folder that holds it",
                       EXIT_USAGE) from exc
    target: Any = module
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise CLIError(f"{module_name} has no {attribute!r}", f"define `{attribute} = Router()` in it",
                           EXIT_USAGE)
    if not isinstance(target, Router):
        raise CLIError(f"{spec} is a {type(target).__name__}, not an okru_proto.bots.Router",
                       "point at your Router", EXIT_USAGE)
    return target


def _log_bot_lines() -> None:
    # Handlers' failures are logged on okru.bots; a bot run from a shell shows them.
    import logging

    logger = logging.getLogger("okru")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)


def cmd_bot_run(args: argparse.Namespace) -> int:
    if args.poll == args.webhook:
        raise CLIError("okru bot run takes --poll or --webhook", "see `okru bot run --help`", EXIT_USAGE)
    router = load_router(args.router)
    _log_bot_lines()
    if args.webhook:
        return _serve(args, router=router)
    import anyio

    from okru_httpx import BotSession

    token, endpoints = _token(args), _endpoints(args)
    # A long poll is held up to --poll-timeout seconds by OK: the reads and the whole call wait longer.
    options = {"timeout": args.poll_timeout + max(args.timeout, 10.0),
               "read_timeout": args.poll_timeout + max(args.timeout, 10.0)}

    async def main() -> None:
        async with BotSession(token, endpoints=endpoints, **options) as bot:
            await bot.run_polling(router, timeout=args.poll_timeout)

    print(f"polling {endpoints.api} for chat events (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        anyio.run(main, backend=args.backend)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    return EXIT_OK


def cmd_bot_serve(args: argparse.Namespace) -> int:
    return _serve(args)


def _serve(args: argparse.Namespace, router: Any = None) -> int:
    try:
        import uvicorn
    except ImportError:
        raise CLIError("okru bot serve runs under uvicorn, which is not installed", "pip install uvicorn") from None
    import socket

    from okru_asgi import webhook_app
    from okru_httpx import BotSession
    from okru_proto.bots import MessageCreated

    # Printing events needs no token; answering them (--echo) or a router's handlers do.
    token, endpoints = (_token(args) if router is not None or getattr(args, "echo", False) else None), \
        _endpoints(args)

    async def handler(event: Any) -> None:
        print(dump_json({"type": event.webhook_type, "event": dict(event.raw)}, indent=None), flush=True)
        if bot is not None and isinstance(event, MessageCreated) and event.chat_id and event.text:
            await bot.send(event.chat_id, event.text)

    allowed = args.allow if args.allow else None
    if args.any_source:
        allowed = None
    elif allowed is None:
        from okru_proto.bots import OK_WEBHOOK_NETWORKS

        allowed = list(OK_WEBHOOK_NETWORKS)
    options = {"allowed_networks": allowed, "trusted_proxies": args.trusted_proxy or (),
               "max_handlers": args.max_handlers, "slot_wait": args.slot_wait, "answer": args.answer,
               "handler_timeout": args.handler_timeout, "shutdown_timeout": args.shutdown_timeout}
    # Built before the session, so a bad --max-handlers / --slot-wait leaves nothing open.
    bot: Any = None
    if router is None:
        app = webhook_app(handler, **options)
        bot = None if token is None else BotSession(token, endpoints=endpoints, timeout=args.timeout)
    else:
        bot = BotSession(_token(args), endpoints=endpoints, timeout=args.timeout)
        try:
            app = webhook_app(router, bot=bot, **options)
        except BaseException:
            import anyio

            anyio.run(bot.aclose)
            raise
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        raise CLIError(f"cannot listen on {args.host}:{args.port} ({exc.strerror})", "pick another --port") from exc
    sock.listen(128)
    host, port = sock.getsockname()[:2]
    print(f"http://{host if ':' not in host else f'[{host}]'}:{port}/", flush=True)
    print(f"webhook receiver on port {port} (Ctrl-C stops it); accepting from "
          f"{'any address' if allowed is None else ', '.join(allowed)}; up to {app.max_handlers} handlers "
          f"at once{'' if bot is not None else '; printing events only (--echo answers them)'}",
          file=sys.stderr, flush=True)
    # uvicorn's own proxy-header handling would rewrite the client address from X-Forwarded-For
    # for 127.0.0.1 peers before webhook_app sees it; webhook_app's trusted_proxies decide instead.
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False,
                                                proxy_headers=False))
    try:
        # uvicorn shuts down gracefully on Ctrl-C (the lifespan waits up to --shutdown-timeout
        # for running handlers), then re-raises the signal.
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        sock.close()
    return EXIT_OK


def add_bot_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``okru bot`` and its subcommands on the main parser's ``sub``."""
    fmt = argparse.RawDescriptionHelpFormatter
    bot = sub.add_parser("bot", parents=parents, formatter_class=fmt,
                         help="a group chat bot (OK's Bot API): info, send, chats, history, subscribe, run, serve",
                         description="A group's chat bot. The group token: --access-token or "
                         f"{TOKEN_ENV}; the API: --api-url or OKRU_API_URL (e.g. `okru fake-server`'s URL).")
    commands = bot.add_subparsers(dest="bot_command", metavar="BOT_COMMAND", required=True,
                                  parser_class=type(bot))

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--access-token", help=f"the group's token ({TOKEN_ENV})")
        p.add_argument("--api-url", help="API base URL (OKRU_API_URL; default https://api.ok.ru)")
        p.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")

    p = commands.add_parser("info", parents=parents, help="the group the token belongs to")
    common(p)
    p.set_defaults(func=cmd_bot_info)

    p = commands.add_parser("send", parents=parents, help="send TEXT to chat CHAT")
    p.add_argument("chat", metavar="CHAT", help="a chat id, e.g. chat:C3ecb9d02a600")
    p.add_argument("text", metavar="TEXT")
    common(p)
    p.set_defaults(func=cmd_bot_send)

    p = commands.add_parser("chats", parents=parents, help="the group's chats, one JSON line each")
    p.add_argument("--count", type=int, metavar="N", help="chats per page, 1..100 (OK's default 50)")
    p.add_argument("--limit", type=int, metavar="N", help="stop after N chats")
    common(p)
    p.set_defaults(func=cmd_bot_chats)

    p = commands.add_parser("history", parents=parents, help="a chat's messages, newest first, one JSON line each")
    p.add_argument("chat", metavar="CHAT", help="a chat id, e.g. chat:C3ecb9d02a600")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="stop after N messages (default 20)")
    p.add_argument("--include-deleted", action="store_true",
                   help="list deleted messages too (OK enables it per group on request)")
    common(p)
    p.set_defaults(func=cmd_bot_history)

    p = commands.add_parser("subscribe", parents=parents, formatter_class=fmt,
                            help="have OK POST chat events to URL, or keep them for --long-polling",
                            description="Subscribe the group to chat events: a webhook URL (OK POSTs each "
                            "event there) or --long-polling (read them with `okru bot run --poll`). Prints "
                            "the subscriptions afterwards.")
    p.add_argument("url", metavar="URL", nargs="?", help="the webhook URL (http: or https:)")
    p.add_argument("--long-polling", action="store_true", help="a long-polling subscription instead of a URL")
    p.add_argument("--type", action="append", metavar="TYPE",
                   choices=("MESSAGE_CREATED", "MESSAGE_CALLBACK", "CHAT_SYSTEM"),
                   help="only these events (repeatable; default: all)")
    p.add_argument("--unsubscribe", action="store_true", help="drop the webhook URL instead")
    common(p)
    p.set_defaults(func=cmd_bot_subscribe)

    p = commands.add_parser("run", parents=parents, formatter_class=fmt,
                            help="run your Router (MODULE:ROUTER) by --poll or behind a --webhook",
                            description="Run an okru_proto.bots.Router: --poll reads events by long polling "
                            "(subscribing when needed) until Ctrl-C; --webhook serves okru_asgi.webhook_app "
                            "under uvicorn (first output line: the URL to subscribe). Handlers' failures are "
                            "logged on stderr and never stop the bot.")
    p.add_argument("router", metavar="MODULE:ROUTER", help="e.g. mybot:router (imported from the current folder)")
    p.add_argument("--poll", action="store_true", help="long polling (no public URL needed)")
    p.add_argument("--webhook", action="store_true", help="receive OK's POSTs under uvicorn")
    p.add_argument("--poll-timeout", type=float, default=20.0, metavar="SECONDS",
                   help="how long OK may hold each poll (default 20)")
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio", help="--poll's event loop")
    _webhook_options(p)
    common(p)
    p.set_defaults(func=cmd_bot_run)

    p = commands.add_parser("fake-message", parents=parents,
                            help="the emulator only: a member of CHAT writes TEXT (an event for your bot)")
    p.add_argument("chat", metavar="CHAT")
    p.add_argument("text", metavar="TEXT")
    p.add_argument("--user", metavar="USER_ID", help="the member (default: the chat's first)")
    common(p)
    p.set_defaults(func=cmd_bot_fake_message)

    p = commands.add_parser("fake-press", parents=parents,
                            help="the emulator only: a member of CHAT presses a button with PAYLOAD")
    p.add_argument("chat", metavar="CHAT")
    p.add_argument("payload", metavar="PAYLOAD")
    p.add_argument("--user", metavar="USER_ID", help="the member (default: the chat's first)")
    common(p)
    p.set_defaults(func=cmd_bot_fake_press)

    p = commands.add_parser("serve", parents=parents, formatter_class=fmt,
                            help="receive webhooks and print each event (--echo: answer with its text)",
                            description="Serve okru_asgi.webhook_app under uvicorn. The first output line "
                            "is the URL to subscribe; each event is then one JSON line. Only OK's "
                            "published addresses are accepted unless --allow/--any-source says otherwise. "
                            "The group token is needed only with --echo.")
    p.add_argument("--echo", action="store_true", help="reply to every new message with its text")
    _webhook_options(p)
    common(p)
    p.set_defaults(func=cmd_bot_serve)


def _webhook_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port_number, default=0, help="default 0: an ephemeral port")
    p.add_argument("--allow", action="append", metavar="NETWORK", help="accept from this network (repeatable)")
    p.add_argument("--any-source", action="store_true",
                   help="accept from any address (testing only, e.g. `okru fake-server`'s deliveries)")
    p.add_argument("--trusted-proxy", action="append", metavar="NETWORK",
                   help="believe X-Forwarded-For from this reverse proxy (repeatable)")
    p.add_argument("--max-handlers", type=int, default=64, metavar="N",
                   help="handlers running at once (default 64); an event finding all busy waits "
                   "--slot-wait seconds, then is answered 503 and OK delivers it again")
    p.add_argument("--slot-wait", type=float, default=2.0, metavar="SECONDS",
                   help="how long an event waits for a free handler, 0 to 5 (default 2)")
    p.add_argument("--handler-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="a handler still running after this long is cancelled (default 60)")
    p.add_argument("--shutdown-timeout", type=float, default=5.0, metavar="SECONDS",
                   help="at Ctrl-C/SIGTERM, how long running handlers may finish before they are cancelled "
                   "(default 5)")
    p.add_argument("--answer", choices=("at_once", "after_handler"), default="at_once",
                   help="answer OK at once (default), or after the handler returned (a handler that fails "
                   "or is late is answered 500/503, so OK delivers the event again)")
