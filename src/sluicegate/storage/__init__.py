"""Storage backends behind the protocols of `storage/base.py`; a URL picks one."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from sluicegate.config import ConfigError
from sluicegate.storage.base import Database, LogQuery, LogRecord, LogSink, Store


def create_database(url: str) -> Database:
    """The backend named by `url`: `sqlite:///relative/path` or `sqlite:////absolute/path`."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from sluicegate.storage.sqlite import SqliteDatabase

        return SqliteDatabase(Path(url.removeprefix("sqlite:///")))
    raise ConfigError(f"SLUICEGATE_DATABASE_URL: unsupported scheme {scheme!r} (supported: sqlite)")


__all__ = ["Database", "LogQuery", "LogRecord", "LogSink", "Store", "create_database"]
