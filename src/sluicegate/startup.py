"""What keeps `serve` from starting, said in one line: `error: …` and exit 2, as a configuration
error is, never a traceback (nothing is wrong with the code when PostgreSQL is down)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sluicegate.config import given_as
from sluicegate.errors import DatabaseUnavailable
from sluicegate.shutdown import close_within
from sluicegate.storage import Database, describe_database


class StartupError(Exception):
    """The server cannot start; the message says why, in one line."""


async def open_database(database: Database, url: str) -> None:
    """`database.open()`, a database that cannot be used reported as a StartupError naming it."""
    import asyncpg  # type: ignore[import-untyped]  # here: every CLI command imports this module

    # What opening a database raises when it cannot be reached or used: refused, unknown host, timed
    # out, a database or role that does not exist, a password refused, a file that cannot be opened.
    unusable = (OSError, TimeoutError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError)
    try:
        await database.open()
    except asyncio.CancelledError:  # a stop during start-up (server.py): close what it had opened
        await close_within("database", database.close())
        raise
    except (*unusable, DatabaseUnavailable) as exc:  # (the storage's own 503: a lock held past its wait)
        cause = exc.__cause__ if isinstance(exc, DatabaseUnavailable) and exc.__cause__ else exc
        raise StartupError(f"database {describe_database(url)}: {_reason(cause)}") from exc


def check_data_dir(data_dir: Path) -> None:
    """A StartupError naming the setting when the data directory is a file, or lies under one (the
    server would otherwise stop at the first file it makes there, `[Errno 20] Not a directory`)."""
    for path in (data_dir, *data_dir.parents):
        if path.exists():
            if not path.is_dir():
                where = "is a file" if path == data_dir else f"lies under {path.resolve()}, a file"
                raise StartupError(
                    f"{given_as('data_dir')}: the data directory {data_dir.resolve()} {where}: give a"
                    " directory (it is made when missing)"
                )
            return


def data_dir_error(data_dir: Path, exc: OSError) -> StartupError:
    """What a file of the data directory that cannot be made or opened keeps from starting, naming
    the setting that chose the directory when the file is in it."""
    inside = exc.filename is not None and Path(str(exc.filename)).resolve().is_relative_to(data_dir.resolve())
    return StartupError(
        f"{given_as('data_dir')}: data directory {data_dir.resolve()}: {exc}" if inside else str(exc)
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return " ".join(str(exc).split()) or type(exc).__name__
