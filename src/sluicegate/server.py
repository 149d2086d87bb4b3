"""Running one gateway process: start the app, serve until the first stop signal, stop gracefully.

aiohttp's `run_app` raises `GracefulExit` from its signal handler on every SIGINT or SIGTERM, so a
second one raised inside the graceful stop itself and cut it short (in-flight answers broken, the
shutdown steps never run, records left in the spool). A second signal is common: Ctrl-C on
`serve --workers N` or systemd's control-group kill reaches a worker from its process group and
again from its parent. Here the first stop signal begins the stop and later ones are ignored
(logged); the stop is bounded anyway (`STOP_SECONDS` for answers in flight, then each shutdown
step's own bound, `shutdown.py`), and SIGKILL still ends the process at once.

A stop signal during start-up (opening the database, migrating: neither has a time limit of its
own) cancels the start-up instead of waiting for it: what it had opened is closed and the process
says `error: stopped during start-up` (a StartupError).

A worker of `serve --workers N` stops the same way when its parent exits, whatever ended it
(SIGKILL included): it watches the parent's pipe (`parent_fd`, workers.py), whose end is the
parent's, on the event loop, rather than asking now and then whether its parent changed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from aiohttp import web

from sluicegate.listeners import listen_error
from sluicegate.shutdown import STEP_SECONDS, STOP_CUT
from sluicegate.startup import StartupError

T = TypeVar("T")

_log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOP_SECONDS = 60.0  # what answers in flight get to finish once the stop begins (`timeouts.stop_grace`)


class StopSignals:
    """The first SIGINT or SIGTERM sets `requested`; the ones after it are only logged."""

    def __init__(self, grace: float = STOP_SECONDS) -> None:
        self.grace = grace  # what answers in flight get, said when another signal comes
        self.requested = asyncio.Event()
        self.serving = False  # listening: a stop lets answers in flight finish

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._received, sig)

    def remove(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)

    def watch_parent(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        """Stop once the parent's pipe `fd` ends (it is never written: readable is its end)."""

        def gone() -> None:
            loop.remove_reader(fd)
            if not self.requested.is_set():
                _log.warning("the parent process has exited: stopping (process %d)", os.getpid())
                self.requested.set()

        loop.add_reader(fd, gone)

    def _received(self, sig: signal.Signals) -> None:
        if self.requested.is_set():
            _log.info(
                "%s ignored (process %d): already stopping, answers in flight get up to %g s;"
                " SIGKILL stops at once",
                sig.name,
                os.getpid(),
                self.grace,
            )
            return
        if self.serving:
            _log.info("%s: stopping (process %d); answers in flight may finish", sig.name, os.getpid())
        else:
            _log.info("%s: stopping the start-up (process %d)", sig.name, os.getpid())
        self.requested.set()


async def serve(
    app: web.Application,
    sockets: list[socket.socket],
    ready: Callable[[], None],
    parent_fd: int | None = None,
    stop_seconds: float = STOP_SECONDS,
) -> None:
    """Start `app`, listen on `sockets` (bound by `listeners.bind`), call `ready`, serve until a
    stop signal (or, given `parent_fd`, the parent's exit), then stop gracefully: answers in flight
    get `stop_seconds`. StartupError when it cannot listen."""
    loop = asyncio.get_running_loop()
    stop = StopSignals(stop_seconds)
    stop.install(loop)
    if parent_fd is not None:
        stop.watch_parent(loop, parent_fd)
    # A worker starts with these blocked (workers.py): one that came meanwhile is delivered now.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    try:
        runner = web.AppRunner(
            app,
            handle_signals=False,  # ours: see the module's docstring
            access_log=None,  # every request is in the gateway's own logs; a second log costs CPU
            handler_cancellation=True,  # a client that hangs up cancels its upstream request
            shutdown_timeout=stop_seconds,
        )
        cut: asyncio.TimerHandle | None = None
        try:
            await unless_stopped(runner.setup(), stop)
            for sock in sockets:
                await _listen(web.SockSite(runner, sock))
            stop.serving = True
            ready()
            await stop.requested.wait()
            cut = loop.call_later(stop_seconds, _close_connections, runner, stop_seconds)
        finally:
            await runner.cleanup()  # stop listening, let answers finish, run every shutdown step
            if cut is not None:
                cut.cancel()
    finally:
        stop.remove(loop)
        if parent_fd is not None:
            loop.remove_reader(parent_fd)


def _close_connections(runner: web.AppRunner, grace: float) -> None:
    """The stop's grace has passed: close every connection still open, which cancels its handler
    (`handler_cancellation`). aiohttp's own `shutdown_timeout` cancels nothing that still streams:
    it waits that long for handlers to finish, then as long again for one it asked to stop."""
    server = runner.server
    open_now = server.connections if server is not None else []
    if open_now:
        _log.warning("closing %d connection(s) still answering after the stop's grace", len(open_now))
        if (told := runner.app.get(STOP_CUT)) is not None:
            told.cutting(grace)  # first: the handlers' records say the gateway cut them
    for connection in open_now:
        connection.force_close()


async def unless_stopped(work: Coroutine[Any, Any, T], stop: StopSignals) -> T:
    """`work`'s result; once `stop` is requested first, `work` is cancelled and a StartupError
    raised (a stop that comes as `work` ends wins too: the server is not to listen)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.requested.wait())
    try:
        await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
        if not stop.requested.is_set():
            return task.result()
        task.cancel()
        # Bounded: a step that swallows the cancellation must not hold the stop up.
        await asyncio.wait((task,), timeout=STEP_SECONDS)
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: what is said is the stop
        raise StartupError("stopped during start-up")
    finally:
        stopped.cancel()
        task.cancel()  # (done: nothing; the caller cancelled: so is `work`)


async def run_unless_stopped(work: Coroutine[Any, Any, T]) -> T:
    """`work` (a start-up step run before `serve`), cancelled by a stop signal (a StartupError)."""
    loop = asyncio.get_running_loop()
    stop = StopSignals()
    stop.install(loop)
    try:
        return await unless_stopped(work, stop)
    finally:
        stop.remove(loop)


async def _listen(site: web.SockSite) -> None:
    try:
        await site.start()
    except OSError as exc:  # two servers bound the port at once and the other listened first
        raise listen_error(site.name.removeprefix("http://"), exc) from exc


def run(
    app: web.Application,
    sockets: list[socket.socket],
    ready: Callable[[], None],
    parent_fd: int | None = None,
    stop_seconds: float = STOP_SECONDS,
) -> None:
    """`serve` on a uvloop event loop of its own, in this thread."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(app, sockets, ready, parent_fd, stop_seconds))
