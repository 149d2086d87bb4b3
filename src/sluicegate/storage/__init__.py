"""Storage backends behind the protocols of `storage/base.py`; a URL picks one."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit

from sluicegate.config import ConfigError, Settings, given_as
from sluicegate.storage.base import Database, GatewayStore, LogQuery, LogReader, LogRecord, LogSink
from sluicegate.storage.cache import Cache, CacheStore, MemoryCache
from sluicegate.storage.cache_admission import CacheAdmission
from sluicegate.storage.limiter import Limiter
from sluicegate.storage.redact import redact_url

if TYPE_CHECKING:
    from sluicegate.storage.redis_link import RedisConnection

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def connect_redis(settings: Settings) -> RedisConnection | None:
    """The process's one Redis client, when `cache_url` names Redis (else None): the exact cache,
    the limiter, the routing state and the semantic feed all use it (see `redis_link.py`)."""
    if not settings.stores.cache_url.startswith(REDIS_SCHEMES):
        return None
    from sluicegate.storage.redis_link import RedisConnection

    _check_ports("stores.cache_url", settings.stores.cache_url)
    return RedisConnection(settings.stores.cache_url)


def create_cache(settings: Settings, store: CacheStore, redis: RedisConnection | None) -> Cache:
    """The exact cache: in Redis when there is one, else an in-process LRU over the database's
    cache table (`store`), or over nothing with `cache_url` `memory://`."""
    if redis is not None:
        from sluicegate.storage.redis_cache import RedisCache

        return RedisCache(redis)
    url = settings.stores.cache_url
    if url in ("", "sqlite", "database"):
        return MemoryCache(settings.stores.cache_max_bytes, store)
    if url == "memory://":
        return MemoryCache(settings.stores.cache_max_bytes)
    raise ConfigError(
        f"{given_as('stores.cache_url')}: unsupported cache {redact_url(url)!r}"
        " (redis://…, memory:// or empty)"
    )


def create_limiter(
    settings: Settings, redis: RedisConnection | None, clock: Callable[[], float] = time.time
) -> Limiter:
    """Rate-limit counters: in Redis when there is one (shared by replicas), else in process and
    copied to `counters.db` in the data directory (see `durable_limiter.py`)."""
    if redis is not None:
        from sluicegate.storage.redis_limiter import RedisLimiter

        return RedisLimiter(redis, settings.stores.counters_lease)
    from sluicegate.storage.durable_limiter import FILE_NAME, DurableLimiter

    return DurableLimiter(settings.data_dir / FILE_NAME, clock, settings.stores.counters_flush_interval)


def create_cache_admission(
    redis: RedisConnection | None, cache: Cache, limiter: Limiter
) -> CacheAdmission | None:
    """The cache lookup and the request rules' decision in one round trip, when the exact cache
    and the counters are both in Redis (else None: each asks its own store)."""
    if redis is None:
        return None
    from sluicegate.storage.redis_cache import RedisCache
    from sluicegate.storage.redis_cache_admission import RedisCacheAdmission
    from sluicegate.storage.redis_limiter import RedisLimiter

    if not (isinstance(cache, RedisCache) and isinstance(limiter, RedisLimiter)):
        return None
    return RedisCacheAdmission(cache, limiter)


def create_database(url: str, *, statement_timeout: float = 60.0, connect_timeout: float = 10.0) -> Database:
    """The backend named by `url`: `sqlite:///relative/path`, `sqlite:////absolute/path`, or
    `postgresql://user@host:port/dbname` (optionally `?schema=NAME`), whose statements and connects
    are bounded by the timeouts (`timeouts.database_statement`, `timeouts.database_connect`)."""
    scheme = _parsed("stores.database_url", url).scheme
    if scheme == "sqlite":
        from sluicegate.storage.sqlite import SqliteDatabase

        return SqliteDatabase(Path(url.removeprefix("sqlite:///")))
    if scheme in ("postgresql", "postgres"):
        from sluicegate.storage.postgres import PostgresDatabase

        _check_ports("stores.database_url", url)
        return PostgresDatabase(url, statement_timeout=statement_timeout, connect_timeout=connect_timeout)
    raise ConfigError(
        f"{given_as('stores.database_url')}: unsupported scheme {scheme!r} (supported: sqlite, postgresql)"
    )


def _parsed(key: str, url: str) -> SplitResult:
    """`url` split; a ConfigError naming where the setting `key` was given when it cannot be."""
    try:
        return urlsplit(url)
    except ValueError as exc:  # an unclosed IPv6 bracket
        raise ConfigError(f"{given_as(key)}: {redact_url(url)!r} is not a URL ({exc})") from None


def _check_ports(key: str, url: str) -> None:
    """A ConfigError naming `url` redacted when a port in it is not a number: the client's own
    ValueError is a traceback quoting the "port", which is part of the password when the password
    holds an unencoded `/`, `?` or `#` (`postgresql://user:pa/ss@host/db`)."""
    hosts = _parsed(key, url).netloc.rpartition("@")[2]
    for host in hosts.split(","):  # libpq takes host1:port1,host2:port2
        port = host.rpartition("]")[2] if host.startswith("[") else host
        digits = port.rpartition(":")[2] if ":" in port else ""
        if digits and not (digits.isascii() and digits.isdigit()):
            raise ConfigError(
                f"{given_as(key)}: {redact_url(url)!r} has a port that is not a number (a password"
                " holding / ? or # must be percent-encoded)"
            )


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///…` database URL (relative to the current folder), else None."""
    return Path(url.removeprefix("sqlite:///")) if urlsplit(url).scheme == "sqlite" else None


def describe_database(url: str) -> str:
    """The database URL as a person should see it: a SQLite file by its absolute path (so a database
    found relative to the wrong folder shows), else without password or query values (redact.py)."""
    path = sqlite_path(url)
    if path is not None:
        return f"sqlite:///{path.resolve()}"
    return redact_url(url)


def describe_redis(settings: Settings) -> str:
    """The Redis that `cache_url` names, as a person should see it (without password or query
    values, redact.py), or that there is none: the cache, counters and routing state in process."""
    url = settings.stores.cache_url
    if url.startswith(REDIS_SCHEMES):
        return redact_url(url)
    return "none: cache, counters and routing state in this process (stores.cache_url)"


def unshared_workers_warning(settings: Settings, workers: int) -> str | None:
    """What `serve --workers N` warns of when its workers each keep their own stores (no Redis):
    the rate-limit and budget counters (storage/durable_limiter.py: each worker admits up to every
    limit), the routing state (circuits, key pools' health: routing/state.py), the Responses items
    they render (storage/response_items.py), and which Replicate predictions they counted
    (storage/counted_once.py), so none reads a prediction left running (pipeline/jobs.py)."""
    stores = settings.stores
    if workers < 2 or stores.cache_url.startswith(REDIS_SCHEMES):
        return None
    items = (
        "the Responses output items it renders: a request that names one by id (item_reference, as the"
        f" Vercel AI SDK sends) reaches another worker about {workers - 1} times in {workers} and is"
        " refused 400 (stores.response_items_bytes = 0 keeps none: clients then send every item with"
        " store: false); "
        if stores.response_items_bytes
        else ""
    )
    return (
        f"with {workers} workers and no Redis (stores.cache_url), each worker keeps for itself its"
        " rate-limit and budget counters: every limit and budget (a gateway's rate_limits, a token's"
        f" rules, a route's limit nodes) admits up to {workers} times its amount, each worker up to all"
        " of it; its circuits and key pools' health (dynamic routes): a circuit opened, a key disabled"
        " (after a 401, or through the admin API) or resting (after a 429 or 403) holds on that worker"
        " only; "
        f"{items}and the Replicate predictions whose tokens it counted: so no worker reads a prediction"
        " left running itself, as a single process does, and the tokens of one whose client streams it"
        " (stream()) or takes a webhook are counted only if a client reads it finished. Set"
        " stores.cache_url to redis://… to share them"
    )


__all__ = [
    "Cache",
    "Database",
    "GatewayStore",
    "LogQuery",
    "LogReader",
    "LogRecord",
    "LogSink",
    "connect_redis",
    "create_cache",
    "create_cache_admission",
    "create_database",
    "create_limiter",
    "describe_database",
    "describe_redis",
    "sqlite_path",
    "unshared_workers_warning",
]
