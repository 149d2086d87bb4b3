"""Run an aiohttp app on loopback in a thread of its own, for sync and async tests alike.

A sync client blocks the thread that calls it, so a server on the test's own event loop would
deadlock; a server on its own loop in a daemon thread serves both kinds of test.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

T = TypeVar("T")

START_TIMEOUT = 10.0
CLEANUP_TIMEOUT = 60.0  # the app's own shutdown bounds each part at 10 s


class Latch:
    """A one-shot flag that any thread sets and any thread or event loop waits on.

    `wait()` blocks a thread; `await wait_async()` suspends only the awaiting coroutine, so the
    server loop keeps serving other requests while one handler waits.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def set(self) -> None:
        with self._lock:
            self._event.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            # A waiter's loop may have closed meanwhile; there is nobody left to wake there.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future)

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block the calling thread until set; False if `timeout` passed first."""
        return self._event.wait(timeout)

    async def wait_async(self) -> None:
        """Suspend the calling coroutine until set; bound it with `asyncio.timeout`."""
        loop = asyncio.get_running_loop()
        entry = (loop, loop.create_future())
        with self._lock:
            if self._event.is_set():
                return
            self._waiters.append(entry)
        try:
            await entry[1]
        finally:
            with self._lock:
                if entry in self._waiters:
                    self._waiters.remove(entry)


def _resolve(future: asyncio.Future[None]) -> None:
    # The waiter may have timed out or been cancelled between set() and this callback.
    if not future.done():
        future.set_result(None)


class ServerThread:
    """An aiohttp app served on 127.0.0.1 at a free port from a daemon thread.

    `start()` returns once the socket listens; `stop()` shuts the runner down, waits at most
    `shutdown_timeout` for handlers still running, cancels what is left and closes the loop.
    """

    def __init__(
        self, app: web.Application, *, host: str = "127.0.0.1", shutdown_timeout: float = 2.0
    ) -> None:
        self._app = app
        self._host = host
        self._shutdown_timeout = shutdown_timeout
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("server is not running")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("server is not running")
        return self._loop

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._thread = threading.Thread(target=self._run, name=f"fake-server-{id(self):x}", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError("server did not start listening in time")
        if self._error is not None:
            self._thread.join()
            raise RuntimeError("server failed to start") from self._error
        return self

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        thread.join()
        self._port = 0

    def call(self, coro_fn: Callable[[], Coroutine[Any, Any, T]], timeout: float = 10.0) -> T:
        """Run `coro_fn()` on the server's loop and return its result (blocks the caller)."""
        return asyncio.run_coroutine_threadsafe(coro_fn(), self.loop).result(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._listen())
        except BaseException as exc:  # handed to start() in the caller's thread
            self._error = exc
        self._ready.set()
        try:
            if self._error is None:
                loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _listen(self) -> None:
        # Cancelling a handler when its client disconnects stops slow or gated handlers at once,
        # instead of letting them hold up stop().
        self._runner = web.AppRunner(
            self._app,
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=self._shutdown_timeout,
            access_log=None,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        # Each step is bounded: a stuck one is reported with the stacks of the tasks still running
        # (to find what did not stop) and the test run goes on instead of hanging.
        if self._runner is not None:
            cleanup = asyncio.ensure_future(self._runner.cleanup())
            if not await _finished("the runner's cleanup", [cleanup], CLEANUP_TIMEOUT):
                cleanup.cancel()
        current = asyncio.current_task()
        leftovers = [task for task in asyncio.all_tasks() if task is not current]
        for task in leftovers:
            task.cancel()
        await _finished("cancelled tasks", leftovers, CLEANUP_TIMEOUT)
        await asyncio.get_running_loop().shutdown_asyncgens()


async def _finished(what: str, tasks: Sequence[asyncio.Future[Any]], within_s: float) -> bool:
    if not tasks:
        return True
    _, pending = await asyncio.wait(tasks, timeout=within_s)
    if not pending:
        return True
    print(f"\nServerThread: {what} did not finish within {within_s} s; tasks still running:", file=sys.stderr)
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            print(f"--- {task!r}", file=sys.stderr)
            task.print_stack(limit=12, file=sys.stderr)
    return False
