"""``okru upload-video``: upload a video file (streamed, resumable), optionally post it.

A progress bar (bytes, rate, ETA) goes to stderr when stderr is a terminal, nothing when piped.
Ctrl-C (or giving up after retries) saves the resume state to a file only the user can read
(it holds the upload URL, a credential) and prints the command that continues the upload.
All protocol work is the core's (``upload_video``, ``video_media``); this is presentation.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from ._creds import add_credentials, add_endpoints, open_session, resolve_credentials
from ._output import EXIT_CODES_HELP, EXIT_INTERRUPTED, EXIT_OK, CLIError

# `okru --help` imports this module to register the subcommand: json, shlex and typing load
# only when an upload runs.
TYPE_CHECKING = False  # not typing's (see _cli)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["cmd_upload_video", "register"]


class _Bar:
    """``sent/total MiB  rate MiB/s  ETA`` on one stderr line, at most 10 times a second."""

    def __init__(self, stream: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.clock = stream, clock
        self.start = clock()
        self.first: int | None = None
        self.last_draw = 0.0

    def __call__(self, sent: int, total: int) -> None:
        now = self.clock()
        if self.first is None:
            self.first, self.start = sent, now
        if sent < total and now - self.last_draw < 0.1:
            return
        self.last_draw = now
        elapsed = max(now - self.start, 1e-6)
        rate = (sent - self.first) / elapsed
        eta = f"{(total - sent) / rate:5.0f}s" if rate > 0 and sent < total else "    -"
        pct = 100.0 * sent / total if total else 100.0
        self.stream.write(f"\r{sent / 2**20:9.1f}/{total / 2**20:.1f} MiB {pct:5.1f}% "
                          f"{rate / 2**20:7.2f} MiB/s ETA {eta}")
        if sent >= total:
            self.stream.write("\n")
        self.stream.flush()


def _save_state(path: str, state: Any) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(state.to_json())


#: A resume state is a few hundred bytes of JSON; a file much larger is something else.
_MAX_RESUME_BYTES = 64 * 1024


def _read_resume(path: str) -> Any:
    """The :class:`ResumeState` saved in ``path``; any other file is a usage error naming it."""
    from okru_proto import ResumeState, UsageError

    hint = "pass the file okru saved when the upload stopped (it printed the command to continue)"
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_RESUME_BYTES + 1)
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror}", hint) from exc
    try:
        if len(data) > _MAX_RESUME_BYTES:
            raise UsageError(f"not a video resume state (larger than {_MAX_RESUME_BYTES // 1024} KiB)")
        return ResumeState.from_json(data)
    except UsageError as exc:
        raise CLIError(f"--resume {path}: {exc}", hint) from exc


def cmd_upload_video(args: argparse.Namespace) -> int:
    import json

    from okru_proto import UsageError, video_media
    from okru_proto.adapter import API

    resume = _read_resume(args.resume) if args.resume else None
    state_file = args.state_file or (args.resume or f"{args.file}.okru-resume.json")
    creds = resolve_credentials(args)
    creds.endpoints()
    session = open_session(creds, timeout=args.timeout)
    latest: list[Any] = [resume]
    progress = _Bar(sys.stderr) if sys.stderr.isatty() else None
    with session:
        try:
            video = session.upload_video(
                args.file, title=args.title, description=args.description, tags=args.tags,
                privacy=args.privacy, gid=args.group, progress=progress, resume=resume,
                resumable=True if args.chunk_size else None,
                chunk_size=args.chunk_size * 2**20 if args.chunk_size else None,
                checkpoint=lambda state: latest.__setitem__(0, state))
        except KeyboardInterrupt:
            if progress is not None:
                sys.stderr.write("\n")  # end the progress bar's line
            saved = _interrupted(args, latest[0], state_file)
            if saved is None:
                raise
            # One instruction, the command that continues (not also "run the command again").
            raise CLIError(f"interrupted: {saved[0]}", f"continue with: {saved[1]}", EXIT_INTERRUPTED) from None
        except UsageError:
            raise
        except Exception as exc:
            state = getattr(exc, "resume_state", None) or latest[0]
            if state is not None:
                where, again = _interrupted(args, state, state_file) or ("", "")
                print(f"\nokru: {where}; continue with:\n  {again}", file=sys.stderr, flush=True)
            raise
        result: dict[str, object] = {"video_id": video.video_id, "size": video.size}
        if args.post is not None:
            media: list[dict[str, Any]] = [{"type": "text", "text": args.post}] if args.post else []
            media.append(video_media(video))
            params: dict[str, object] = {"attachment": json.dumps({"media": media}, ensure_ascii=False)}
            if args.group:
                params.update(type="GROUP_THEME", gid=args.group)
            result["topic_id"] = API(session).mediatopic.post(**params)
    if resume is not None and os.path.exists(state_file):
        os.unlink(state_file)  # done: the URL in it is of no more use
    print(json.dumps(result))
    return EXIT_OK


def _interrupted(args: argparse.Namespace, state: Any, path: str) -> tuple[str, str] | None:
    """Save ``state`` to ``path``: (where the upload stopped and where it was saved, the command
    that continues it); None when there is nothing to resume."""
    import shlex

    if state is None:
        print("okru: the upload had not started; nothing to resume", file=sys.stderr)
        return None
    _save_state(path, state)
    again = ["okru", "upload-video", args.file, "--resume", path]
    if args.title:
        again += ["--title", args.title]
    return (f"upload stopped at {state.confirmed} of {state.size} bytes; resume state saved to {path} "
            "(keep it private: it holds the upload URL)", shlex.join(again))


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``upload-video`` subcommand to the main parser's subcommands."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("upload-video", parents=[common], formatter_class=fmt, epilog=EXIT_CODES_HELP,
                       help="upload a video file (streamed, resumable) and optionally post it",
                       description="Upload FILE with video.getUploadUrl, the upload host and video.update "
                       "(needs the VIDEO_CONTENT permission). Files above 16 MiB go in resumable chunks; "
                       "a progress bar shows on a terminal. Ctrl-C saves the resume state to "
                       "FILE.okru-resume.json (or --state-file) and prints the command to continue.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--title", required=True, help="the video's title (video.update)")
    p.add_argument("--description")
    p.add_argument("--tags", help="comma-separated tags")
    p.add_argument("--privacy", choices=("PUBLIC", "FRIENDS"))
    p.add_argument("--group", metavar="GID", help="upload to (and post in) this group")
    p.add_argument("--post", metavar="TEXT", help="then publish it with mediatopic.post and this text ('' for none)")
    p.add_argument("--resume", metavar="STATEFILE", help="continue the upload saved in STATEFILE")
    p.add_argument("--state-file", help="where to save the resume state (default FILE.okru-resume.json)")
    p.add_argument("--chunk-size", type=int, metavar="MIB", help="resumable chunk size in MiB (forces resumable)")
    p.add_argument("--timeout", type=float, help="seconds per request (default 10)")
    add_credentials(p)
    add_endpoints(p)
    p.set_defaults(func=cmd_upload_video)
