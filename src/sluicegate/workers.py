"""The parent of `serve --workers N`: it starts the workers on the sockets it bound, says the server
is listening once every worker is, replaces a worker that dies, and passes a stop signal on to them.

Each worker is forked from the parent, which has already imported the gateway: a worker starts in
a fraction of the second a fresh interpreter takes to import it (and shares those pages with its
siblings). It keeps only the listening sockets, the write end of a pipe of its own on which it
writes a line once it listens (`ready`) or why it cannot start (`error <message>`), and the read
end of the parent's pipe, which the parent never writes and holds open while it lives: a worker
sees it close (the parent killed, even by SIGKILL) and stops gracefully (server.py). It reads its
configuration afresh, as a new process would. At the first start the parent prints an `error`
once, whichever worker wrote it, stops the others and exits 2: N workers failing alike print one
line, not N tracebacks. A line is shorter than PIPE_BUF, so it comes in one read.

The parent waits on its workers' pipes and on SIGCHLD (through the signal wake-up descriptor) in
one `select`, so a worker's death is seen as it happens, not at the next poll. The dead worker is
logged (its number, pid, exit code or signal) and a replacement started on the same sockets (the
parent keeps them open until a stop begins), with the same number, so it takes the same place
among the workers for /metrics (metrics_group.py). None is started once a stop has begun.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import selectors
import shutil
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import NoReturn

from sluicegate import metrics_group

READY = "ready"
ERROR = "error"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_LINE_BYTES = 4000  # under PIPE_BUF (4096 on Linux): one write, never interleaved
# A crash loop: one worker's place dying CRASH_LOOP times in a row, each before it was ready or
# within EARLY_SECONDS of it. A start takes about a second, so a worker that cannot start (a
# broken config file, a dependency that crashes on import) stops the group within seconds instead
# of respawning forever; one that served for EARLY_SECONDS was healthy, so its death (OOM on a
# large request, a kill) is replaced and starts the count afresh. Counted per place, not over the
# group: a burst of requests that each kill a worker is not a crash loop, and the workers still
# up keep serving meanwhile. While another worker serves, a crash loop does not stop the group
# (the cause may pass: a database unreachable for a while, which a replacement needs at start):
# the place is tried again after 1, 2, 4 ... up to RETRY_MAX_SECONDS, a line in the log each time.
CRASH_LOOP = 5
EARLY_SECONDS = 10.0
RETRY_MAX_SECONDS = 60.0

_log = logging.getLogger(__name__)


def retry_delay(deaths: int) -> float:
    """Seconds until a place that died `deaths` times in a row (at least CRASH_LOOP) is tried again:
    1, 2, 4 ... RETRY_MAX_SECONDS, however long it lasts (no float overflow after a thousand)."""
    return min(2.0 ** min(deaths - CRASH_LOOP, 16), RETRY_MAX_SECONDS)


def say(fd: int, line: str) -> None:
    """A worker's line to its parent (`READY`, or `ERROR` and a message), in one write."""
    data = line.replace("\n", " ").encode()[:_LINE_BYTES] + b"\n"
    with contextlib.suppress(BrokenPipeError):  # the parent has gone: nobody to tell
        os.write(fd, data)


def parent_gone(fd: int) -> bool:
    """Whether the parent's pipe (`--parent-fd`) has closed: it is never written, so a read that
    would not block is its end."""
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))


def ended(code: int) -> str:
    """How a process ended, from its return code (negative: the signal that killed it)."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass(frozen=True, slots=True)
class Place:
    """A worker's place in the group: its line to the parent, the parent's pipe (its end is the
    parent's), the directory where the workers meet for /metrics, its number (a replacement's is
    the dead worker's), how many they are."""

    ready_fd: int
    parent_fd: int
    group: Path
    index: int
    count: int


_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None
# What a forked worker runs: it serves on the sockets until it stops; its exit code.
RunWorker = Callable[[list[socket.socket], Place], int]


class _Process:
    """A forked worker, as the parent sees it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """Its exit code once it has exited (reaped here), else None."""
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Signal it unless it has been reaped (never reaping it here: a stop signal's handler calls
        this, and may run between the main loop's `waitpid` and its setting `returncode`)."""
        if self.returncode is None:  # alive, or a zombie that still holds its pid
            with contextlib.suppress(ProcessLookupError):  # reaped a moment ago
                os.kill(self.pid, signum)


@dataclass
class _Worker:
    place: int  # the same for a replacement
    process: _Process
    lines: int | None  # the read end of its pipe, until its line (or the pipe's end) is read
    ready_at: float | None = None
    error: str | None = None


class Workers:
    """N worker processes and what the parent knows of them."""

    def __init__(self, count: int, run_worker: RunWorker) -> None:
        self._count = count
        self._run_worker = run_worker
        self._workers: dict[int, _Worker] = {}
        self._early_deaths = [0] * count  # per place, in a row
        self._due: dict[int, float] = {}  # place -> when a crash-looping place is tried again
        self._sockets: list[socket.socket] = []
        self._group = Path()
        self._parent_read = -1
        self._previous: dict[signal.Signals, _Handler] = {}  # the signal handlers before `run`
        self._parents_own: list[int] = []  # descriptors a worker closes (its fork has them too)
        self._selector = selectors.DefaultSelector()
        self._codes: list[int] = []  # of the ready workers that exited once the stop began
        self._error: str | None = None  # a worker of the first start could not start: exit 2
        self._crash_loop = False
        self._listening = False
        self.stopping = False

    def run(
        self, sockets: list[socket.socket], listening: Callable[[], None], failed: Callable[[str], None]
    ) -> int:
        """Start the workers, call `listening` once all listen (or `failed` with the first one's
        reason, then stop them), keep them running until a stop; the exit code."""
        self._sockets = sockets
        # Never written; the write end stays here (not inherited): its end is the parent's.
        parent_read, parent_write = os.pipe()
        wake_read, wake_write = os.pipe()
        for fd in (wake_read, wake_write):
            os.set_blocking(fd, False)
        # Where the workers find each other for /metrics (metrics_group.py): made 0700, locked for
        # as long as this process lives; one a killed group left is removed first.
        group, lock = metrics_group.make_directory()
        self._group, self._parent_read = group, parent_read
        self._parents_own = [parent_write, wake_read, wake_write, lock]
        previous = self._previous = {sig: signal.getsignal(sig) for sig in (*STOP_SIGNALS, signal.SIGCHLD)}
        wakeup = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        self._selector.register(wake_read, selectors.EVENT_READ)
        try:
            for sig in STOP_SIGNALS:
                signal.signal(sig, self._pass_on)
            signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the select up
            for place in range(self._count):
                self._start(place)
            self._supervise(listening, failed)
        finally:
            signal.set_wakeup_fd(wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._close_sockets()
            self._selector.close()
            shutil.rmtree(group, ignore_errors=True)
            for fd in (lock, parent_read, parent_write, wake_read, wake_write):
                os.close(fd)
        if self._error is not None:
            return 2
        return 1 if self._crash_loop else max(self._codes, default=0)

    def _supervise(self, listening: Callable[[], None], failed: Callable[[str], None]) -> None:
        while self._workers or (self._due and not self.stopping):
            wait = max(min(self._due.values()) - time.monotonic(), 0) if self._due else None
            for key, _ in self._selector.select(wait):
                if isinstance(key.data, _Worker):
                    self._read_line(key.data, failed)
                else:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(key.fd, 512):  # the signals' wake-ups: their handlers ran
                            pass
            if self.stopping:  # (a signal's handler only passes it on: see _pass_on)
                self._close_sockets()
            for worker in list(self._workers.values()):
                if (code := worker.process.poll()) is not None:
                    self._exited(worker, code, failed)
            for place, due in list(self._due.items()):
                if self.stopping or due <= time.monotonic():
                    del self._due[place]
                    if not self.stopping:
                        self._replace(place, "", failed)
            ready = [worker for worker in self._workers.values() if worker.ready_at is not None]
            if not self._listening and not self.stopping and len(ready) == self._count:
                self._listening = True
                listening()

    def _start(self, place: int) -> _Worker:
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)  # read once it has exited too: whatever it wrote is there
        # Blocked while it starts, inherited blocked: a signal that comes before the worker handles
        # it waits for it (server.py unblocks them) instead of killing it half-started; here, the
        # handler then runs with the worker already listed, so it is passed on to it too.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            for stream in (sys.stdout, sys.stderr):  # else both processes would write what is buffered
                stream.flush()
            pid = os.fork()
            if pid == 0:  # the worker: whatever happens, it never returns into the parent's frames
                try:
                    _exit_worker(self._become_worker(place, write_end, read_end))
                finally:
                    os._exit(1)
            process = _Process(pid)
            worker = self._workers[place] = _Worker(place, process, read_end)
            if self.stopping:  # a stop began as it was being started: its handler may have run
                process.send_signal(signal.SIGTERM)
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)  # the worker's alone: its end is the worker's line or its exit
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        self._selector.register(read_end, selectors.EVENT_READ, worker)
        return worker

    def _become_worker(self, place: int, ready_fd: int, parents_end: int) -> int:
        """In the forked child: drop what is the parent's (its signal handlers and wake-up pipe, its
        ends of the workers' pipes, the parent pipe's write end, whose end the worker waits for) and
        serve; the exit code. Descriptors the libraries opened are theirs to keep or renew at a
        fork (libuv renews its signal pipe): closing every other one broke it."""
        try:
            signal.set_wakeup_fd(-1)
            for inherited, handler in self._previous.items():
                signal.signal(inherited, handler)
            self._selector.close()
            siblings = [worker.lines for worker in self._workers.values() if worker.lines is not None]
            for fd in (*self._parents_own, parents_end, *siblings):
                os.close(fd)
            where = Place(ready_fd, self._parent_read, self._group, place, self._count)
            return self._run_worker(self._sockets, where)
        except KeyboardInterrupt:
            return 130
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            return 1

    def _read_line(self, worker: _Worker, failed: Callable[[str], None]) -> None:
        """The worker's one line, or the end of its pipe (it closes it once ready, or it died)."""
        assert worker.lines is not None
        try:
            line = os.read(worker.lines, _LINE_BYTES + 1).decode(errors="replace").rstrip("\n")
        except BlockingIOError:  # exited with its end held open elsewhere (a child of its own)
            line = ""
        self._selector.unregister(worker.lines)
        os.close(worker.lines)
        worker.lines = None
        kind, _, message = line.partition(" ")
        if kind == READY:
            worker.ready_at = time.monotonic()
            if self._listening:
                _log.info("worker %d (pid %d) listening", worker.place, worker.process.pid)
        elif kind == ERROR:
            worker.error = message
            if not self._listening and self._error is None:  # the first start: as a config error
                self._error = message
                failed(message)
                self._stop()

    def _exited(self, worker: _Worker, code: int, failed: Callable[[str], None]) -> None:
        if worker.lines is not None:  # it has exited: what it wrote is all there
            self._read_line(worker, failed)
        del self._workers[worker.place]
        if self.stopping:
            if worker.ready_at is not None:  # (one a stop found starting says so: exit 2)
                self._codes.append(code)
            return
        early = worker.ready_at is None or time.monotonic() - worker.ready_at < EARLY_SECONDS
        deaths = self._early_deaths[worker.place] = self._early_deaths[worker.place] + 1 if early else 0
        why = ended(code) + (f": {worker.error}" if worker.error else "")
        said = f"worker {worker.place} (pid {worker.process.pid}) {why}"
        if deaths >= CRASH_LOOP:
            looping = (
                f"worker {worker.place} died {deaths} times in a row within {EARLY_SECONDS:g} s of starting"
            )
            if not any(other.ready_at is not None for other in self._workers.values()):
                self._crash_loop = True
                failed(f"{looping} (pid {worker.process.pid} {why}); stopping the workers")
                self._stop()
                return
            delay = retry_delay(deaths)
            self._due[worker.place] = time.monotonic() + delay
            _log.warning(
                "%s (pid %d %s); the others serve on: trying again in %g s",
                looping,
                worker.process.pid,
                why,
                delay,
            )
            return
        self._replace(worker.place, said, failed)

    def _replace(self, place: int, said: str, failed: Callable[[str], None]) -> None:
        """Start a worker in `place`; `said`: what became of the one it replaces ("" for a place
        tried again after a crash loop)."""
        try:
            replacement = self._start(place)
        except OSError as exc:  # no process can be made (out of memory, of processes)
            self._crash_loop = True
            failed(f"{said or f'worker {place}'}; cannot start another: {exc}")
            self._stop()
            return
        if said:
            _log.warning("%s; replaced by pid %d", said, replacement.process.pid)
        else:
            _log.warning("worker %d tried again: pid %d", place, replacement.process.pid)

    def _pass_on(self, signum: int, frame: object) -> None:
        """A stop signal: the stop begins (no worker is replaced from then on); passed on to the
        workers, a repeated one too. The sockets are closed by the loop it wakes: a handler may
        run between any two lines, `_start`'s among them."""
        self.stopping = True
        self._signal_all(signum)

    def _stop(self) -> None:
        self.stopping = True
        self._close_sockets()
        self._signal_all(signal.SIGTERM)

    def _signal_all(self, signum: int) -> None:
        for worker in list(self._workers.values()):  # (a handler may run as the loop changes them)
            worker.process.send_signal(signum)

    def _close_sockets(self) -> None:
        """The workers hold the sockets too: once they stop, the port refuses connections."""
        for sock in self._sockets:
            sock.close()


def _exit_worker(code: int) -> NoReturn:
    """End a forked worker with `code`, its log records and output written out. No wait for threads
    left running, as an interpreter's exit would (one that failed its start left an idle executor,
    which waits forever unless that exit wakes it): what a stop must finish, the server's shutdown
    steps have finished, each within its bound. No stop signal interrupts this."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    except BaseException:  # nobody is left to tell: the exit code still is what it was
        pass
    finally:
        os._exit(code)
