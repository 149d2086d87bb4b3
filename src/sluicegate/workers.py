"""The parent of `serve --workers N`: it starts the workers on the sockets it bound, says the server
is listening once every worker is, and passes a stop signal on to them.

Each worker is `python -m sluicegate serve` with hidden options: the listening sockets' descriptors
(inherited), and the write end of one pipe on which it writes a line once it listens (`ready`) or
why it cannot start (`error <message>`). The parent prints that message once, whichever worker
wrote it, stops the others and exits 2: N workers failing alike print one line, not N tracebacks.
A line is shorter than PIPE_BUF, so lines written at once never mix.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import IO

READY = "ready"
ERROR = "error"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_LINE_BYTES = 4000  # under PIPE_BUF (4096 on Linux): one write, never interleaved


def say(fd: int, line: str) -> None:
    """A worker's line to its parent (`READY`, or `ERROR` and a message), in one write."""
    data = line.replace("\n", " ").encode()[:_LINE_BYTES] + b"\n"
    os.write(fd, data)


class Workers:
    """N worker processes and what the parent knows of them."""

    def __init__(self, count: int, command: Sequence[str]) -> None:
        self._count = count
        self._command = list(command)
        self._children: list[subprocess.Popen[bytes]] = []
        self.stopping = False

    def run(
        self, sockets: list[socket.socket], listening: Callable[[], None], failed: Callable[[str], None]
    ) -> int:
        """Start the workers, call `listening` once all listen (or `failed` with the first one's
        reason, then stop them), wait for them to exit; the exit code."""
        signal.signal(signal.SIGTERM, self._pass_on)
        signal.signal(signal.SIGINT, self._pass_on)
        # Where the workers find each other for /metrics (metrics_group.py): made 0700.
        group = tempfile.mkdtemp(prefix="sluicegate-workers-")
        try:
            return self._run(sockets, group, listening, failed)
        finally:
            shutil.rmtree(group, ignore_errors=True)

    def _run(
        self,
        sockets: list[socket.socket],
        group: str,
        listening: Callable[[], None],
        failed: Callable[[str], None],
    ) -> int:
        read_end, write_end = os.pipe()
        fds = [sock.fileno() for sock in sockets]
        options = [*(f"--listen-fd={fd}" for fd in fds), f"--ready-fd={write_end}", f"--group={group}"]
        # Blocked while they start, inherited blocked: a signal that comes before a worker handles
        # it waits for it (server.py unblocks them) instead of killing it half-started.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            for index in range(self._count):
                command = [*self._command, *options, f"--index={index}"]
                self._children.append(subprocess.Popen(command, pass_fds=(*fds, write_end)))
        finally:
            for sock in sockets:
                sock.close()  # the workers hold them: once they stop, the port refuses connections
            os.close(write_end)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a signal that came is passed on now
        with os.fdopen(read_end, "rb") as lines:
            ready, error = self._wait_ready(lines)
        if error is not None:
            failed(error)
        if ready == self._count:
            if not self.stopping:
                listening()
        elif error is not None or not self.stopping:  # not stopped while starting: one failed
            self._stop_all()
        codes = [child.wait() for child in self._children]
        return 2 if error is not None else max(codes)

    def _wait_ready(self, lines: IO[bytes]) -> tuple[int, str | None]:
        """Read the workers' lines until each is ready or one cannot start (its message), or every
        worker has closed its end (one died first, or they were stopped while starting)."""
        ready = 0
        while ready < self._count:
            line = lines.readline().decode(errors="replace").rstrip("\n")
            if not line:
                break
            kind, _, message = line.partition(" ")
            if kind == ERROR:
                return ready, message
            ready += 1
        return ready, None

    def _pass_on(self, signum: int, frame: object) -> None:
        self.stopping = True
        for child in self._children:
            if child.poll() is None:
                child.send_signal(signum)

    def _stop_all(self) -> None:
        for child in self._children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)


def worker_command() -> list[str]:
    return [sys.executable, "-m", "sluicegate", "serve"]
