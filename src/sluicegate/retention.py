"""The retention job: deletes each gateway's log records past its retention period or record cap,
and the analytics roll-ups' minute and hour rows past the age they are kept for (day rows stay:
they count the traffic of deleted records)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from sluicegate.storage.base import GatewayStore, LogStore

_log = logging.getLogger(__name__)


class RetainedLogs(GatewayStore, LogStore, Protocol):
    """Gateways (their retention settings) and the records to trim."""


@runtime_checkable
class PartitionedLogs(Protocol):
    async def drop_logs_before(self, cutoff_ts: float) -> int: ...


@runtime_checkable
class PrunedRollups(Protocol):
    async def prune_rollups(self, now: float) -> int:
        """Delete roll-up rows finer than a day past their width's age (`rollup_bins.KEPT_SECONDS`)."""
        ...


@runtime_checkable
class Compacted(Protocol):
    async def compact(self) -> None:
        """Give back the room a pass freed (SQLite: the WAL, free pages)."""
        ...


class Retention:
    def __init__(self, database: RetainedLogs, clock: Callable[[], float], interval: float) -> None:
        self._database = database
        self._clock = clock
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="retention")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> int:
        """One pass over every gateway; returns how many records were deleted."""
        deleted = 0
        now = self._clock()
        gateways = await self._database.all_gateways()
        if isinstance(self._database, PartitionedLogs) and gateways:
            # Whole days older than the longest retention go at once (PostgreSQL day partitions);
            # the per-gateway pass below then only trims what shorter retentions ask for.
            longest = max(gateway.settings.retention_days for gateway in gateways)
            deleted += await self._database.drop_logs_before(now - longest * 86400)
        for gateway in gateways:
            settings = gateway.settings
            keep = settings.max_records if settings.on_max_records == "delete_oldest" else None
            before = now - settings.retention_days * 86400
            deleted += await self._database.delete_logs(gateway.account, gateway.slug, before, keep)
        pruned = 0
        if isinstance(self._database, PrunedRollups):
            pruned = await self._database.prune_rollups(now)
        if isinstance(self._database, Compacted) and (deleted or pruned):
            await self._database.compact()
        return deleted

    async def _loop(self) -> None:
        while True:
            try:
                deleted = await self.run_once()
                if deleted:
                    _log.info("retention deleted %d log records", deleted)
            except Exception:  # the job must outlive a failed pass; the next one retries
                _log.exception("log retention pass failed")
            await asyncio.sleep(self._interval)
