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
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from sluicegate import listeners
from sluicegate.cli.common import app, console, print_error, settings_or_exit, with_database
from sluicegate.config import ConfigError, Settings, given_as
from sluicegate.gateway import DEFAULT_ACCOUNT
from sluicegate.remote import forget_address, local_url, record_address
from sluicegate.startup import StartupError, check_data_dir, data_dir_error, open_database
from sluicegate.storage import create_database, describe_database, describe_redis, unshared_workers_warning
from sluicegate.tokens import ensure_admin_token, short_secret_warning

if TYPE_CHECKING:
    from sluicegate.workers import Place

T = TypeVar("T")

# Every command imports this module (it registers `serve`), so what only a running server needs
# (workers.py and its /metrics group, prometheus_client; server.py, app.py) is imported where used.


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on (default: 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on (default: 8787)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes sharing the port and backends")] = 1,
) -> None:
    """Start the gateway."""
    settings = settings_or_exit(host=host, port=port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _started(lambda: check_data_dir(settings.data_dir))
    try:
        sockets = _started(lambda: listeners.bind(settings.host, settings.port))
        recorded: list[Path] = []

        def listening() -> None:
            _print_banner(settings)
            recorded.append(record_address(settings))
            # Once started, as the workers' warning: before a failed start's one-line error, it buried it.
            if warning := short_secret_warning(settings.admin_token, given_as("admin_token")):
                logging.getLogger(__name__).warning(warning)

        try:
            if workers == 1:
                _started(lambda: _serve(settings, sockets, listening))
            else:
                reread = functools.partial(settings_or_exit, host=host, port=port)
                raise typer.Exit(_serve_workers(settings, sockets, workers, listening, reread))
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
        f"  redis      {describe_redis(settings)}",
    ]
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def _serve_workers(
    settings: Settings,
    sockets: list[socket.socket],
    count: int,
    listening: Callable[[], None],
    reread: Callable[[], Settings],
) -> int:
    # Migrate and create the bootstrap token once, here, so workers do not race to do it.
    _started(lambda: _run(_bootstrap(settings)))

    def started() -> None:
        listening()
        # Only once started: before a failed start's one-line error, it buried it.
        if warning := unshared_workers_warning(settings, count):
            logging.getLogger(__name__).warning(warning)

    # Imported once, here, before the workers are forked: each starts with the gateway loaded.
    # Frozen, the collector of a worker never touches (and so never copies) the pages they share.
    import sluicegate.app  # noqa: F401
    from sluicegate import workers

    def run_worker(sockets: list[socket.socket], place: workers.Place) -> int:
        try:  # the configuration read afresh, as a process started now would read it
            _worker(reread(), sockets, place)
        except typer.Exit as exc:
            return exc.exit_code
        return 0

    gc.collect()  # (nothing the bootstrap left is kept for good in every worker)
    gc.freeze()
    return workers.Workers(count, run_worker).run(sockets, started, print_error)


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


def _worker(settings: Settings, sockets: list[socket.socket], place: Place) -> None:
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
    settings: Settings, sockets: list[socket.socket], ready: Callable[[], None], place: Place | None = None
) -> None:
    from sluicegate import server, workers
    from sluicegate.app import METRICS, create_app
    from sluicegate.metrics_group import WorkerGroup

    try:
        app = create_app(settings, workers=place.count if place is not None else 1)
    except ConfigError as exc:  # a URL only a backend reads (SLUICEGATE_CACHE_URL, …)
        raise StartupError(f"configuration: {exc}") from exc
    except OSError as exc:  # the data directory's files: one line, as every start-up error
        raise data_dir_error(settings.data_dir, exc) from exc
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
    server.run(
        app, sockets, ready, place.parent_fd if place is not None else None, settings.timeouts.stop_grace
    )


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (servers also do this when they start)."""
    settings = settings_or_exit()
    if not settings.stores.database_url:  # SQLite in the data directory
        _started(lambda: check_data_dir(settings.data_dir))
    with_database(lambda db: asyncio.sleep(0), create=True)
    console.print(f"database {describe_database(settings.resolved_database_url)} is up to date")
