"""The ``okru`` command: the parser, running a subcommand, and errors as one line.

Each subcommand lives in its own module and registers its options here: ``call``/``sign``
(``_call``), ``login``/``logout`` (``_login/``), ``fake-server`` (``_fake_server``),
``bot`` (``_bot``), ``upload-video`` (``_upload_video``), ``purchase`` (``_purchase``);
``demo``'s two options stay here, its steps are ``_demo/``'s. Credentials they share are ``_creds``'. All OK.ru knowledge (signing,
grants, parsing, errors) comes from ``okru_proto``; requests go through ``okru_httpx.sync``.
"""

from __future__ import annotations

import argparse
import os
import sys

from ._output import (
    EXIT_BROKEN_PIPE,
    EXIT_CODES_HELP,
    EXIT_USAGE,
    CLIError,
    describe_error,
    prepare_stdout,
    stdout_is_closed,
)

# Not typing.TYPE_CHECKING: importing typing costs start-up time (mypy treats any constant of
# this name as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, NoReturn

# Start-up time matters for a command (`okru --help` should feel instant): this module and the
# subcommand modules it registers import only argparse and the output helpers at load time; the
# core, the adapters and the login machinery are imported inside the subcommand that needs them.

__all__ = ["build_parser", "run"]

DESCRIPTION = """\
The OK.ru (Odnoklassniki) API from the command line: signed calls, the OAuth login, signature
debugging, and a local OK.ru emulator. Start with `okru demo`: it needs no credentials."""

EPILOG = EXIT_CODES_HELP + """
credentials (okru call / sign / login), first found wins: the flags, then the environment
(OKRU_APP_ID, OKRU_APP_KEY, OKRU_APP_SECRET_KEY, OKRU_ACCESS_TOKEN, OKRU_SESSION_SECRET_KEY,
OKRU_API_URL, OKRU_CONNECT_URL), then the login stored by `okru login` (used only when no
credential comes from flags or environment). The stored login lives in
$OKRU_CONFIG_DIR or $XDG_CONFIG_HOME/okru or ~/.config/okru (credentials.json, mode 0600).
Secrets are never printed: tokens show as `dwip…***`, keys as `***`. docs/cli.md has more."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one ``okru: error:`` line (exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise CLIError(message, f"see `{self.prog} --help`", EXIT_USAGE)


class _Version(argparse.Action):
    """``--version``: okru's version (okru_proto's), imported only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        from okru_proto import __version__

        print(f"okru {__version__}")
        parser.exit()


def cmd_demo(args: argparse.Namespace) -> int:
    from ._demo.command import run_demo

    return run_demo(verbose=args.verbose, faults=args.fault or [])


# -- the parser ------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from . import _call as call_cli
    from . import _fake_server as fake_server_cli
    from . import _purchase as purchase_cli
    from . import _upload_video as video_cli
    from ._bot import add_bot_parser
    from ._login import command as login_cmd

    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks and the okru logger's DEBUG lines on stderr")
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(prog="okru", description=DESCRIPTION, epilog=EPILOG, formatter_class=fmt,
                     parents=[common])
    parser.add_argument("--version", action=_Version, help="show okru's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    p = sub.add_parser("demo", parents=[common], formatter_class=fmt, epilog=EXIT_CODES_HELP,
                       help="walk through every grant and call against a local emulator (no credentials)",
                       description="Start the OK.ru emulator on loopback and walk through every grant, "
                       "the three signing circuits, parameters, errors, refresh, upload and paging.")
    p.add_argument("-v", "--verbose", action="store_true", help="show every parameter and full results")
    p.add_argument("--fault", action="append", metavar="METHOD=FAULT",
                   help="inject an emulator fault on every call of METHOD (e.g. users.getInfo=service, "
                   "/oauth/token.do=http_502) to see how failures look; repeatable")
    p.set_defaults(func=cmd_demo)

    call_cli.register(sub, common)
    login_cmd.register(sub, common)
    call_cli.register_sign(sub, common)
    fake_server_cli.register(sub, common)
    add_bot_parser(sub, [common])
    video_cli.register(sub, common)
    purchase_cli.register(sub, common)
    _name_commands(sub)
    return parser


def _name_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """Give every runnable subcommand its full name (``okru bot send``) as ``args.command_name``,
    for messages that point at its ``--help``."""
    for parser in sub.choices.values():
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            _name_commands(nested[0])
        else:
            parser.set_defaults(command_name=parser.prog)


def _setup_debug() -> None:
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
    logger = logging.getLogger("okru")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand: the exit code (errors are one line on stderr)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    command = "okru"
    prepare_stdout()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        debug = bool(getattr(args, "debug", False))
        command = getattr(args, "command_name", command)
        if debug:
            _setup_debug()
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
    except BrokenPipeError as exc:
        if not stdout_is_closed():
            return _report(exc, debug, command)
        # The reader went away (`okru demo | head -3`): stop quietly, like cat or yes killed by
        # SIGPIPE, with the shell's 128 + 13. Further writes (the final flush) go nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    except (Exception, KeyboardInterrupt) as exc:
        return _report(exc, debug, command)


def _report(exc: BaseException, debug: bool, command: str) -> int:
    """Print ``exc`` as one ``okru: error:`` line (its traceback too with --debug); the exit code."""
    if debug:
        import traceback

        traceback.print_exception(exc)
    code, line = describe_error(exc, debug_hint=not debug, command=command)
    print(line, file=sys.stderr, flush=True)
    return code
