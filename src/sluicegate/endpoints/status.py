"""`GET /api/v1/status`: the answering replica's own state, for the dashboard's notices.

It reads only memory (the log writer's backlog, on disk and in memory, and its last results, the
Redis links), so it
answers while the database is down, which is when it matters. Any `read` token may call it: it
names no gateway.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from sluicegate.endpoints.guard import Guard
from sluicegate.endpoints.schemas import ReplicaStatus, SpoolStatus, json_response
from sluicegate.logbook import Logbook
from sluicegate.spool import Spool
from sluicegate.storage.redis_link import RedisLink
from sluicegate.tokens import Scope


class StatusEndpoint:
    def __init__(
        self, spool: Spool, logbook: Logbook, links: Sequence[RedisLink], batch_size: int, guard: Guard
    ) -> None:
        self._spool = spool
        self._logbook = logbook
        self._links = links
        self._batch_size = batch_size
        self._guard = guard

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/status", self._guard(Scope.READ, self.status, narrowed=True))

    async def status(self, request: web.Request) -> web.Response:
        return json_response(self.report())

    def report(self) -> ReplicaStatus:
        return replica_status(self._logbook, self._spool.max_bytes, self._links)


def replica_status(logbook: Logbook, max_bytes: int, links: Sequence[RedisLink]) -> ReplicaStatus:
    """The figures: the backlog counts records in memory too; `failing_since` is the database's,
    `spool_failing_since` the spool's own (a full disk), which `behind` leaves out."""
    failing_since = logbook.failing_since
    behind = failing_since is not None or logbook.behind()
    return ReplicaStatus(
        log_spool=SpoolStatus(
            backlog_records=logbook.backlog_records,
            backlog_bytes=logbook.backlog_bytes,
            max_bytes=max_bytes,
            dropped_records=logbook.dropped_records,
            failing_since=failing_since,
            behind=behind,
            memory_records=logbook.unspooled.records,
            dropped_from_memory=logbook.unspooled.dropped,
            spool_failing_since=logbook.unspooled.failing_since,
        ),
        redis_unreachable=unreachable(links),
    )


def unreachable(links: Sequence[RedisLink]) -> int:
    """How many of `links` found Redis unreachable at their last try (for /metrics and the status)."""
    return sum(link.down for link in links)
