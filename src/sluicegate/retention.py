"""The retention job: deletes each gateway's log records past its retention period or record cap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sluicegate.storage.base import Database

_log = logging.getLogger(__name__)


class Retention:
    def __init__(self, database: Database, clock: Callable[[], float], interval: float) -> None:
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
        for gateway in await self._database.all_gateways():
            settings = gateway.settings
            keep = settings.max_records if settings.on_max_records == "delete_oldest" else None
            before = now - settings.retention_days * 86400
            deleted += await self._database.delete_logs(gateway.account, gateway.slug, before, keep)
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
