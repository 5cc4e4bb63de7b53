"""The test's side of ``_webhook_worker`` processes: starting one (``Worker``), and the control
port its handlers report to and take orders from (``Control``). Every wait is for an event (a
line from a process, a connection, its end), bounded by ``WAIT``."""

from __future__ import annotations

import queue
import socket
import subprocess
import sys
import threading
from pathlib import Path

from ._webhook_servers import WAIT

WORKER = Path(__file__).with_name("_webhook_worker.py")


class Control:
    """Accepts the handlers' connections: each ``started <pid> <mid>`` arrives in ``started``
    with its connection, for :meth:`answer` (or to watch it close)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.started: queue.Queue[tuple[int, str, socket.socket]] = queue.Queue()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(WAIT)
            words = conn.makefile("rb").readline().decode().split()
            self.started.put((int(words[1]), words[2], conn))

    def next(self) -> tuple[int, str, socket.socket]:
        return self.started.get(timeout=WAIT)

    def none_pending(self) -> bool:
        return self.started.empty()

    @staticmethod
    def answer(conn: socket.socket, word: str) -> None:
        with conn:
            conn.sendall(f"{word}\n".encode())

    @staticmethod
    def closed(conn: socket.socket) -> bool:
        """True once the handler's end of ``conn`` closed (waits up to ``WAIT``)."""
        with conn:
            return conn.recv(1) == b""

    def close(self) -> None:
        self.sock.close()


class Worker:
    """One ``_webhook_worker`` process; ``port`` once it listens; its stderr is read to the end
    in a thread (``stderr()`` once it exited)."""

    def __init__(self, record: Path, *options: str, control: Control | None = None) -> None:
        command = [sys.executable, str(WORKER), "--record", str(record), *options]
        if control is not None:
            command += ["--control", str(control.port)]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._err: list[str] = []
        self._err_done = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.kill()
            raise AssertionError(f"the worker did not start: {line!r} {self.stderr()}")
        self.port = int(line.split()[1])

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._err.append(line)
        self._err_done.set()

    def stderr(self) -> str:
        self._err_done.wait(WAIT)
        return "".join(self._err)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(WAIT)
