"""``okru bot``: a group's chat bot from the command line (``info``, ``send``, ``serve``).

The group token comes from ``--access-token`` or ``OKRU_BOT_TOKEN``; the API base from
``--api-url`` or ``OKRU_API_URL`` (the emulator's URL to try things locally). Requests go through
``okru_httpx``'s ``BotSession``; ``serve`` runs ``okru_asgi.webhook_app`` under uvicorn (it needs
the token only to answer, with ``--echo``).
"""

from __future__ import annotations

import argparse
import os
import sys

from ._args import port_number
from ._output import EXIT_OK, EXIT_USAGE, CLIError, dump_json

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


def cmd_bot_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        raise CLIError("okru bot serve runs under uvicorn, which is not installed", "pip install uvicorn") from None
    import socket

    from okru_asgi import webhook_app
    from okru_httpx import BotSession
    from okru_proto.bots import MessageCreated

    # Printing events needs no token; answering them (--echo) does.
    token, endpoints = (_token(args) if args.echo else None), _endpoints(args)

    async def handler(event: Any) -> None:
        print(dump_json({"type": event.type, "event": dict(event.raw)}, indent=None), flush=True)
        if bot is not None and isinstance(event, MessageCreated) and event.chat_id and event.text:
            await bot.send(event.chat_id, event.text)

    allowed = args.allow if args.allow else None
    if args.any_source:
        allowed = None
    elif allowed is None:
        from okru_proto.bots import OK_WEBHOOK_NETWORKS

        allowed = list(OK_WEBHOOK_NETWORKS)
    # Built before the session, so a bad --max-handlers / --slot-wait leaves nothing open.
    app = webhook_app(handler, allowed_networks=allowed, trusted_proxies=args.trusted_proxy or (),
                      max_handlers=args.max_handlers, slot_wait=args.slot_wait, answer=args.answer,
                      handler_timeout=args.handler_timeout, shutdown_timeout=args.shutdown_timeout)
    bot = None if token is None else BotSession(token, endpoints=endpoints, timeout=args.timeout)
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
                         help="a group chat bot (OK's Bot API): info, send, serve a webhook",
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

    p = commands.add_parser("serve", parents=parents, formatter_class=fmt,
                            help="receive webhooks and print each event (--echo: answer with its text)",
                            description="Serve okru_asgi.webhook_app under uvicorn. The first output line "
                            "is the URL to subscribe; each event is then one JSON line. Only OK's "
                            "published addresses are accepted unless --allow/--any-source says otherwise. "
                            "The group token is needed only with --echo.")
    p.add_argument("--echo", action="store_true", help="reply to every new message with its text")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port_number, default=0, help="default 0: an ephemeral port")
    p.add_argument("--allow", action="append", metavar="NETWORK", help="accept from this network (repeatable)")
    p.add_argument("--any-source", action="store_true", help="accept from any address (testing only)")
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
    common(p)
    p.set_defaults(func=cmd_bot_serve)
