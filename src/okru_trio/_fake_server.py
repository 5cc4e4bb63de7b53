"""A loopback HTTP/1.1 server (h11 over trio) serving an :class:`okru_proto.testing.FakeOK`.

Request bodies are read whole, except uploads the emulator streams (``FakeOK.open_stream``:
the video upload host), whose body goes to the emulator block by block as it arrives.

Keep-alive, many connections at once, optional server-side TLS, and the emulator's
transport-level faults: "slow" (trio.sleep before answering), "reset" (RST, no response),
"truncated" (full Content-Length announced, half the body sent, then close). A long poll with
nothing to return yet is held open as OK holds it (``FakeOK.hold_for``), until the emulator has
news or the poll's time is up.
"""

from __future__ import annotations

import argparse
import queue
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import h11
import trio

from okru_proto import UsageError
from okru_proto.adapter import Request, Response
from okru_proto.testing import Clock, FakeClock, FakeOK, WallClock

__all__ = ["main", "run_fake_server", "serve_fake"]

_MAX_HEADER_BYTES = 64 * 1024
_SERVER = ("server", "okru-fake")


def _core_request(event: h11.Request, body: bytes, scheme: str, authority: str) -> Request:
    host = next((v.decode("latin-1") for k, v in event.headers if k == b"host"), authority)
    target = event.target.decode("latin-1")
    url = target if target.startswith(("http://", "https://")) else f"{scheme}://{host}{target}"
    headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers)
    return Request(event.method.decode("latin-1"), url, headers, body)


class _Dropped(Exception):
    """A scripted upload fault: reset the connection now."""


async def _read_request(conn: h11.Connection, stream: trio.abc.Stream, fake: FakeOK | None = None,
                        scheme: str = "http", authority: str = "") -> tuple[h11.Request, bytes | Any] | None:
    """The next request and its body; an upload body is streamed into the emulator's sink
    (returned in place of the bytes), so the server holds one received block at a time."""
    request: h11.Request | None = None
    body = bytearray()
    sink: Any = None
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            if conn.they_are_waiting_for_100_continue:
                # curl waits a second for this before sending a large body.
                await stream.send_all(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
            conn.receive_data(bytes(await stream.receive_some(65536)))
        elif isinstance(event, h11.Request):
            request = event
            if fake is not None and event.method == b"POST":
                try:
                    sink = fake.open_stream(_core_request(event, b"", scheme, authority))
                except UsageError:
                    sink = None
        elif isinstance(event, h11.Data):
            if sink is not None:
                if not sink.write(event.data):
                    raise _Dropped
            else:
                body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return request, (sink if sink is not None else bytes(body))
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None


def _socket_stream(stream: trio.abc.Stream) -> trio.SocketStream | None:
    while isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    return stream if isinstance(stream, trio.SocketStream) else None


async def _reset(stream: trio.abc.Stream) -> None:
    # SO_LINGER 0: close() sends a TCP RST, the abrupt drop the "reset" fault promises.
    raw = _socket_stream(stream)
    if raw is not None:
        try:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        await trio.aclose_forcefully(raw)
    await trio.aclose_forcefully(stream)


def _h11_response(response: Response, length: int) -> h11.Response:
    headers = [(k, v) for k, v in response.headers if k not in ("content-length", "transfer-encoding", "connection")]
    headers += [("content-length", str(length)), _SERVER]
    return h11.Response(status_code=response.status, headers=headers)


async def _serve_connection(stream: trio.abc.Stream, fake: FakeOK, scheme: str, authority: str) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEADER_BYTES)
    try:
        while True:
            try:
                received = await _read_request(conn, stream, fake, scheme, authority)
            except _Dropped:
                await _reset(stream)
                return
            except h11.RemoteProtocolError:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    bad = h11.Response(status_code=400, headers=[("content-length", "0"), ("connection", "close"), _SERVER])
                    await stream.send_all(conn.send(bad) + conn.send(h11.EndOfMessage()))
                return
            if received is None:
                return
            event, body = received
            if not isinstance(body, bytes):  # a streamed upload: its sink answers
                response, action = body.finish()
                delay, reset, truncate_at = action.delay, action.reset, action.truncate_at
            else:
                try:
                    request = _core_request(event, body, scheme, authority)
                except UsageError:
                    response, delay, reset, truncate_at = (Response(400, (("content-type", "text/plain"),), b"Bad Request"),
                                                           0.0, False, None)
                else:
                    await _hold(fake, request)
                    response, action = fake.handle_ex(request)
                    delay, reset, truncate_at = action.delay, action.reset, action.truncate_at
            if delay:
                await trio.sleep(delay)
            if reset:
                await _reset(stream)
                return
            send_body = event.method != b"HEAD"
            await stream.send_all(conn.send(_h11_response(response, len(response.body))))
            if truncate_at is not None:
                # Fewer bytes than Content-Length, then close: the client sees an incomplete body.
                if send_body and truncate_at:
                    await stream.send_all(conn.send(h11.Data(data=response.body[:truncate_at])))
                return
            if send_body and response.body:
                await stream.send_all(conn.send(h11.Data(data=response.body)))
            await stream.send_all(conn.send(h11.EndOfMessage()))
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError, OSError):
        return
    finally:
        await trio.aclose_forcefully(stream)


async def _hold(fake: FakeOK, request: Request) -> None:
    """Wait while the emulator says to hold ``request`` (a long poll with nothing new): until an
    event is queued (the emulator calls back, from any thread) or the hold time is up."""
    hold = fake.hold_for(request)
    if not hold:
        return
    news = [trio.Event()]
    token = trio.lowlevel.current_trio_token()

    def wake() -> None:
        try:
            token.run_sync_soon(lambda: news[0].set())
        except trio.RunFinishedError:
            pass

    stop = fake.bots.listen(wake)
    try:
        with trio.move_on_after(hold):
            # Asked again after each change (and once now that no change can be missed): news
            # for other subscribers leaves the poll waiting.
            while fake.hold_for(request):
                await news[0].wait()
                news[0] = trio.Event()
    finally:
        stop()


@asynccontextmanager
async def serve_fake(
    fake: FakeOK | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[str]:
    """Serve ``fake`` on ``host:port`` (port 0: ephemeral) inside the current trio run.

    Yields the base URL (``http://127.0.0.1:PORT``, or ``https://`` with ``ssl_context``, a
    server-side context). Use it as ``Endpoints(api=url, connect=url)``.
    """
    served = fake if fake is not None else FakeOK()
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]
    url_host = f"[{host}]" if ":" in host else host
    authority = f"{url_host}:{bound}"
    scheme = "https" if ssl_context is not None else "http"

    async def handler(stream: trio.abc.Stream) -> None:
        try:
            await _serve_connection(stream, served, scheme, authority)
        except Exception:  # one broken connection must never stop the server
            pass

    serving: Sequence[trio.abc.Listener[trio.abc.Stream]] = listeners
    if ssl_context is not None:
        serving = [trio.SSLListener(listener, ssl_context, https_compatible=True) for listener in listeners]
    # The server runs as a system task, not in a nursery around the caller's block: an error in
    # the caller's code then propagates as itself, not wrapped in an ExceptionGroup.
    scope = trio.CancelScope()
    ready = trio.Event()
    finished = trio.Event()

    async def run() -> None:
        try:
            with scope:
                async with trio.open_nursery() as nursery:
                    await nursery.start(trio.serve_listeners, handler, serving)
                    ready.set()
        finally:
            finished.set()

    trio.lowlevel.spawn_system_task(run, name="okru-fake-server")
    await ready.wait()
    try:
        yield f"{scheme}://{authority}"
    finally:
        scope.cancel()
        with trio.CancelScope(shield=True):
            await finished.wait()


@contextmanager
def run_fake_server(
    fake: FakeOK | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> Iterator[str]:
    """:func:`serve_fake` in a background thread running its own trio loop, for sync or asyncio
    tests: ``with run_fake_server(fake) as url: ...``. The emulator is then used from two
    threads: script faults or inspect ``fake.requests`` between calls, not during one."""
    started: queue.Queue[tuple[str, trio.lowlevel.TrioToken, trio.CancelScope] | BaseException] = queue.Queue()

    async def serve() -> None:
        with trio.CancelScope() as scope:
            async with serve_fake(fake, host=host, port=port, ssl_context=ssl_context) as url:
                started.put((url, trio.lowlevel.current_trio_token(), scope))
                await trio.sleep_forever()

    def thread_main() -> None:
        try:
            trio.run(serve)
        except BaseException as exc:
            started.put(exc)

    thread = threading.Thread(target=thread_main, name="okru-fake-server", daemon=True)
    thread.start()
    item = started.get()
    if isinstance(item, BaseException):
        thread.join()
        raise item
    url, token, scope = item
    try:
        yield url
    finally:
        try:
            trio.from_thread.run_sync(scope.cancel, trio_token=token)
        except trio.RunFinishedError:
            pass
        thread.join()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m okru_trio.testing [--host H] [--port N] [--tls-cert C --tls-key K] [--seed S]
    [--clock wall|frozen] [--clock-speed N] [--oauth-error-status STATUS]``.

    Prints the base URL on the first line (then the demo credentials) and serves until Ctrl-C.
    """
    parser = argparse.ArgumentParser(prog="python -m okru_trio.testing", description="Run the OK.ru emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): an ephemeral port")
    parser.add_argument("--tls-cert", help="PEM certificate chain (enables https)")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clock", choices=("wall", "frozen"), default="wall",
                        help="wall (default): codes and tokens age in real time; frozen: nothing expires")
    parser.add_argument("--clock-speed", type=float, metavar="N", help="the wall clock N times as fast")
    parser.add_argument("--oauth-error-status", type=int, default=400, metavar="STATUS",
                        help="HTTP status of token.do's JSON errors (default 400)")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    context: ssl.SSLContext | None = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    # A server people use interactively runs on real time (a FakeOK in a test keeps its manual
    # clock): codes then live 2 minutes and tokens 30 minutes, as on OK.ru.
    clock: Clock
    if args.clock == "frozen":
        if args.clock_speed is not None:
            parser.error("--clock-speed needs --clock wall")
        clock = FakeClock(start=time.time())
    else:
        try:
            clock = WallClock(args.clock_speed if args.clock_speed is not None else 1.0)
        except ValueError as exc:
            parser.error(f"--clock-speed: {exc}")
    if not 200 <= args.oauth_error_status <= 599:
        parser.error("--oauth-error-status must be an HTTP status from 200 to 599")
    fake = FakeOK(seed=args.seed, clock=clock)
    fake.oauth_error_status = args.oauth_error_status

    async def serve() -> None:
        async with serve_fake(fake, host=args.host, port=args.port, ssl_context=context) as url:
            print(url, flush=True)
            print(
                f"app_id={fake.app_id} app_key={fake.app_key} app_secret_key={fake.app_secret_key}\n"
                f"user_login={fake.user_login} user_password={fake.user_password} user_id={fake.user_id}",
                flush=True,
            )
            await trio.sleep_forever()

    try:
        trio.run(serve)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
