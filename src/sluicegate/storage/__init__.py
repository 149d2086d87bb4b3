"""Storage backends behind the protocols of `storage/base.py`; a URL picks one."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from sluicegate.config import ConfigError, Settings
from sluicegate.storage.base import Database, GatewayStore, LogQuery, LogReader, LogRecord, LogSink
from sluicegate.storage.cache import Cache, CacheStore, MemoryCache
from sluicegate.storage.limiter import Limiter


def create_cache(settings: Settings, database: Database) -> Cache:
    """The exact cache: Redis when `cache_url` names one, else an in-process LRU over the database."""
    url = settings.cache_url
    if url.startswith(("redis://", "rediss://", "unix://")):
        from sluicegate.storage.redis_cache import RedisCache

        return RedisCache(url)
    if url in ("", "sqlite", "database"):
        store = database if isinstance(database, CacheStore) else None
        return MemoryCache(settings.cache_max_bytes, store)
    if url == "memory://":
        return MemoryCache(settings.cache_max_bytes)
    raise ConfigError(f"SLUICEGATE_CACHE_URL: unsupported cache {url!r} (redis://…, memory:// or empty)")


def create_limiter(settings: Settings, clock: Callable[[], float] = time.time) -> Limiter:
    """Rate-limit counters: in Redis when `cache_url` names one (shared by replicas), else in
    process and copied to `counters.db` in the data directory (see `durable_limiter.py`)."""
    if settings.cache_url.startswith(("redis://", "rediss://", "unix://")):
        from sluicegate.storage.redis_limiter import RedisLimiter

        return RedisLimiter(settings.cache_url)
    from sluicegate.storage.durable_limiter import FILE_NAME, DurableLimiter

    return DurableLimiter(settings.data_dir / FILE_NAME, clock, settings.counters_flush_interval)


def create_database(url: str) -> Database:
    """The backend named by `url`: `sqlite:///relative/path`, `sqlite:////absolute/path`, or
    `postgresql://user@host:port/dbname` (optionally `?schema=NAME`)."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from sluicegate.storage.sqlite import SqliteDatabase

        return SqliteDatabase(Path(url.removeprefix("sqlite:///")))
    if scheme in ("postgresql", "postgres"):
        from sluicegate.storage.postgres import PostgresDatabase

        return PostgresDatabase(url)
    raise ConfigError(
        f"SLUICEGATE_DATABASE_URL: unsupported scheme {scheme!r} (supported: sqlite, postgresql)"
    )


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///…` database URL (relative to the current folder), else None."""
    return Path(url.removeprefix("sqlite:///")) if urlsplit(url).scheme == "sqlite" else None


def describe_database(url: str) -> str:
    """The database URL as a person should see it: a SQLite file by its absolute path (so a database
    found relative to the wrong folder shows), any password masked."""
    path = sqlite_path(url)
    if path is not None:
        return f"sqlite:///{path.resolve()}"
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


__all__ = [
    "Cache",
    "Database",
    "GatewayStore",
    "LogQuery",
    "LogReader",
    "LogRecord",
    "LogSink",
    "create_database",
    "describe_database",
    "sqlite_path",
]
