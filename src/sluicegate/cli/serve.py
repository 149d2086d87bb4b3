"""`sluicegate serve` (one process, or workers sharing the port) and `sluicegate migrate`.

`serve` binds the port first (`listeners.py`): taken, it says so and exits 2 before opening
anything. The banner is printed once the server listens, by the one process or by the parent of
the workers once every worker does; what keeps it from starting (a bad database or cache URL,
PostgreSQL down, a database that does not exist) is one `error: …` line and exit 2 (`startup.py`).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from sluicegate import listeners
from sluicegate.cli.common import app, console, print_error, settings_or_exit, with_database
from sluicegate.config import ConfigError, Settings
from sluicegate.gateway import DEFAULT_ACCOUNT
from sluicegate.remote import forget_address, local_url, record_address
from sluicegate.startup import StartupError, open_database
from sluicegate.storage import create_database, describe_database
from sluicegate.storage.response_items import unshared_workers_warning
from sluicegate.tokens import ensure_admin_token

T = TypeVar("T")

# Every command imports this module (it registers `serve`), so what only a running server needs
# (workers.py and its /metrics group, prometheus_client; server.py, app.py) is imported where used.


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on (default: 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on (default: 8787)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes sharing the port and backends")] = 1,
    listen_fd: Annotated[list[int] | None, typer.Option(hidden=True)] = None,
    ready_fd: Annotated[int | None, typer.Option(hidden=True)] = None,
    parent_fd: Annotated[int | None, typer.Option(hidden=True)] = None,
    group: Annotated[Path | None, typer.Option(hidden=True)] = None,
    index: Annotated[int, typer.Option(hidden=True)] = 0,
) -> None:
    """Start the gateway."""
    settings = settings_or_exit(host=host, port=port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if ready_fd is not None and parent_fd is not None and group is not None:  # a worker
            place = _Place(ready_fd, parent_fd, group, index, workers)
            _worker(settings, [socket.socket(fileno=fd) for fd in listen_fd or []], place)
            return
        sockets = _started(lambda: listeners.bind(settings.host, settings.port))
        recorded: list[Path] = []

        def listening() -> None:
            _print_banner(settings)
            recorded.append(record_address(settings))

        try:
            if workers == 1:
                _started(lambda: _serve(settings, sockets, listening))
            else:
                raise typer.Exit(_serve_workers(settings, sockets, workers, listening))
        finally:
            for address in recorded:
                forget_address(address, settings)
    except KeyboardInterrupt as exc:  # Ctrl-C before the server handles it: nothing to stop yet
        raise typer.Exit(130) from exc


def _started(start: Callable[[], T]) -> T:
    """`start()`; what keeps the server from starting is one line on stderr and exit 2."""
    try:
        return start()
    except StartupError as exc:
        print_error(str(exc))
        raise typer.Exit(2) from exc


def _print_banner(settings: Settings) -> None:
    """Where everything is, one whole line each: a URL cut by a wrap cannot be clicked or copied."""
    url = local_url(settings.host, settings.port)
    listening = listeners.address_text(settings.host, settings.port)
    lines = [
        f"Sluicegate listening on {listening}",
        f"  dashboard  {url}/dashboard/",
        f"  proxy      {url}/v1/{{account}}/{{gateway}}/{{provider}}/…",
        f"  admin API  {url}/api/v1/",
        f"  database   {describe_database(settings.resolved_database_url)}",
    ]
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def _serve_workers(
    settings: Settings, sockets: list[socket.socket], count: int, listening: Callable[[], None]
) -> int:
    # Migrate and create the bootstrap token once, here, so workers do not race to do it.
    _started(lambda: _run(_bootstrap(settings)))

    def started() -> None:
        listening()
        # Only once started: before a failed start's one-line error, it buried it.
        if warning := unshared_workers_warning(settings, count):
            logging.getLogger(__name__).warning(warning)

    from sluicegate import workers

    command = [*workers.worker_command(), "--host", settings.host, "--port", str(settings.port)]
    command += ["--workers", str(count)]
    return workers.Workers(count, command).run(sockets, started, print_error)


def _run(work: Coroutine[Any, Any, None]) -> None:
    """On uvloop, as the workers run: the same errors, said the same way, and a stop signal
    cancels it as it cancels a worker's start-up (server.py)."""
    import uvloop

    from sluicegate import server

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(server.run_unless_stopped(work))


async def _bootstrap(settings: Settings) -> None:
    url = settings.resolved_database_url
    try:
        database = create_database(
            url,
            statement_timeout=settings.timeouts.database_statement,
            connect_timeout=settings.timeouts.database_connect,
        )
    except ConfigError as exc:
        raise StartupError(f"configuration: {exc}") from exc
    await open_database(database, url)
    try:
        secret = await ensure_admin_token(database, DEFAULT_ACCOUNT, settings.admin_token)
    finally:
        await database.close()
    if secret is not None:
        print(f"Bootstrap admin token (shown once, stored hashed): {secret}", flush=True)


@dataclass(frozen=True, slots=True)
class _Place:
    """A worker's place in `serve --workers N` (workers.py): its line to the parent, the parent's
    pipe (its end is the parent's), the directory where the workers meet for /metrics, its number
    (a replacement's is the dead worker's), how many they are."""

    ready_fd: int
    parent_fd: int
    group: Path
    index: int
    count: int


def _worker(settings: Settings, sockets: list[socket.socket], place: _Place) -> None:
    """One worker: its parent prints what it writes on `ready_fd` (workers.py), once."""
    from sluicegate import workers

    def ready() -> None:
        workers.say(place.ready_fd, workers.READY)
        os.close(place.ready_fd)  # so the parent sees the end once every worker is ready or gone

    try:
        _serve(settings, sockets, ready, place)
    except StartupError as exc:
        workers.say(place.ready_fd, f"{workers.ERROR} {exc}")
        raise typer.Exit(2) from exc


def _serve(
    settings: Settings, sockets: list[socket.socket], ready: Callable[[], None], place: _Place | None = None
) -> None:
    from sluicegate import server, workers
    from sluicegate.app import METRICS, create_app
    from sluicegate.metrics_group import WorkerGroup

    try:
        app = create_app(settings)
    except ConfigError as exc:  # a URL only a backend reads (SLUICEGATE_CACHE_URL, …)
        raise StartupError(f"configuration: {exc}") from exc
    except OSError as exc:  # the data directory's files: one line, as every start-up error
        raise StartupError(str(exc)) from exc
    if place is not None:  # /metrics sums every worker's figures
        metrics = app[METRICS]
        orphaned = functools.partial(workers.parent_gone, place.parent_fd)
        metrics.workers = WorkerGroup(place.group, place.index, place.count, metrics.figures, orphaned)
        app.on_startup.append(metrics.workers.start)
        app.on_cleanup.append(metrics.workers.close)
    # A request allocates a few hundred short-lived objects; with the default gen-0 threshold (700)
    # the collector runs every couple of requests and rescans everything the batches keep alive.
    # Fewer, larger young collections measured ~10 % less CPU per request on the proxy path.
    gc.set_threshold(50_000, 50, 100)
    server.run(app, sockets, ready, place.parent_fd if place is not None else None)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (servers also do this when they start)."""
    with_database(lambda db: asyncio.sleep(0), create=True)
    console.print(f"database {describe_database(settings_or_exit().resolved_database_url)} is up to date")
