"""Running one gateway process: start the app, serve until the first stop signal, stop gracefully.

aiohttp's `run_app` raises `GracefulExit` from its signal handler on every SIGINT or SIGTERM, so a
second one raised inside the graceful stop itself and cut it short (in-flight answers broken, the
shutdown steps never run, records left in the spool). A second signal is common: Ctrl-C on
`serve --workers N` or systemd's control-group kill reaches a worker from its process group and
again from its parent. Here the first stop signal begins the stop and later ones are ignored
(logged); the stop is bounded anyway (`STOP_SECONDS` for answers in flight, then each shutdown
step's own bound, `shutdown.py`), and SIGKILL still ends the process at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Callable

from aiohttp import web

from sluicegate.listeners import listen_error

_log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOP_SECONDS = 60.0  # what answers in flight get to finish once the stop begins (aiohttp's default)


class StopSignals:
    """The first SIGINT or SIGTERM sets `requested`; the ones after it are only logged."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._received, sig)

    def remove(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)

    def _received(self, sig: signal.Signals) -> None:
        if self.requested.is_set():
            _log.info(
                "%s ignored (process %d): already stopping, answers in flight get up to %g s;"
                " SIGKILL stops at once",
                sig.name,
                os.getpid(),
                STOP_SECONDS,
            )
            return
        _log.info("%s: stopping (process %d); answers in flight may finish", sig.name, os.getpid())
        self.requested.set()


async def serve(app: web.Application, sockets: list[socket.socket], ready: Callable[[], None]) -> None:
    """Start `app`, listen on `sockets` (bound by `listeners.bind`), call `ready`, serve until a
    stop signal, then stop gracefully. StartupError when it cannot listen."""
    loop = asyncio.get_running_loop()
    stop = StopSignals()
    stop.install(loop)
    # A worker starts with these blocked (workers.py): one that came meanwhile is delivered now.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    try:
        runner = web.AppRunner(
            app,
            handle_signals=False,  # ours: see the module's docstring
            access_log=None,  # every request is in the gateway's own logs; a second log costs CPU
            handler_cancellation=True,  # a client that hangs up cancels its upstream request
            shutdown_timeout=STOP_SECONDS,
        )
        await runner.setup()
        try:
            if not stop.requested.is_set():  # a stop asked for during start-up: never listen
                for sock in sockets:
                    await _listen(web.SockSite(runner, sock))
                ready()
                await stop.requested.wait()
        finally:
            await runner.cleanup()  # stop listening, let answers finish, run every shutdown step
    finally:
        stop.remove(loop)


async def _listen(site: web.SockSite) -> None:
    try:
        await site.start()
    except OSError as exc:  # two servers bound the port at once and the other listened first
        raise listen_error(site.name.removeprefix("http://"), exc) from exc


def run(app: web.Application, sockets: list[socket.socket], ready: Callable[[], None]) -> None:
    """`serve` on a uvloop event loop of its own, in this thread."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(app, sockets, ready))
