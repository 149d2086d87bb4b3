"""The log writer of `create_app`: the record builder, the spool, the batched writer and the
gauges /metrics shows of its backlog and of the Redis links the features use."""

from __future__ import annotations

from collections.abc import Iterable

from sluicegate.config import Settings
from sluicegate.endpoints.status import unreachable
from sluicegate.logbook import Logbook
from sluicegate.metrics import Metrics
from sluicegate.otlp_logs import OtlpLogs
from sluicegate.records import RecordBuilder
from sluicegate.routing.redis_state import RedisStateStore
from sluicegate.spool import Spool
from sluicegate.storage.base import Database
from sluicegate.storage.redis_cache import RedisCache
from sluicegate.storage.redis_limiter import RedisLimiter
from sluicegate.storage.redis_link import RedisLink

REDIS_PARTS = (RedisCache, RedisLimiter, RedisStateStore)


def log_writer(
    settings: Settings,
    database: Database,
    otlp_logs: OtlpLogs | None,
    metrics: Metrics,
    stores: Iterable[object],
) -> tuple[Logbook, Spool, list[RedisLink]]:
    """The logbook, its spool, and the Redis links of `stores` (the features that use Redis: their
    outage is a gauge beside the backlog's), with their gauges added to `metrics`."""
    timeouts = settings.timeouts
    builder = RecordBuilder(body_limit=settings.logs.body_limit)
    spool = Spool(settings.data_dir / "spool", settings.logs.spool_max_bytes)
    logbook = Logbook(
        database,
        builder.build,
        batch_size=settings.logs.batch_size,
        interval=settings.logs.flush_interval,
        stored=[otlp_logs.written] if otlp_logs else [],
        spool=spool,
        cheap=builder.cheap,
        write_timeout=timeouts.database_write,
    )
    metrics.gauge(
        "sluicegate_log_spool_backlog_records",
        "Log records of this replica not yet stored in the database: in its spool or in memory",
        lambda: logbook.backlog_records,
    )
    metrics.gauge(
        "sluicegate_log_spool_backlog_bytes",
        "Bytes of the log spool's backlog",
        lambda: logbook.backlog_bytes,
    )
    metrics.gauge(
        "sluicegate_log_memory_records",
        "Of the backlog, log records kept in memory because the spool cannot be written (a full disk)",
        lambda: logbook.unspooled.records,
    )
    links = [part.link for part in stores if isinstance(part, REDIS_PARTS)]
    metrics.gauge(
        "sluicegate_redis_unreachable",
        "Features using Redis (exact cache, rate limiter, routing state) that found it unreachable at their"
        " last try: their outage policy applies",
        lambda: unreachable(links),
    )
    metrics.counter(
        "sluicegate_log_spool_dropped_records",
        "Log records dropped, oldest first: the spool's past log_spool_max_bytes, memory's past 10,000",
        lambda: logbook.dropped_records,
    )
    return logbook, spool, links
