"""The batching log writer: finished exchanges and their outcomes in, log records out, off the
request path.

`submit` (or `take`, the outcome sink) only appends to a list. A background task wakes every
`interval` seconds (or when a batch is full), builds the records on a worker thread and writes
them in one batch. `close()` drains everything, which is how a graceful shutdown keeps every
request's record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from sluicegate.exchange import Exchange
from sluicegate.outcome import Outcome
from sluicegate.slices import in_slices
from sluicegate.storage.base import LogRecord, LogSink

_log = logging.getLogger(__name__)
Finished = tuple[Exchange, Outcome]
# Called with the records of a batch once they are stored (e.g. pushing them to a log collector).
Stored = Callable[[list[LogRecord]], Awaitable[None]]


class Logbook:
    def __init__(
        self,
        sink: LogSink,
        build: Callable[[Exchange, Outcome], LogRecord],
        batch_size: int,
        interval: float,
        stored: Sequence[Stored] = (),
    ) -> None:
        self._sink = sink
        self._build = build
        self._stored = stored
        self._batch_size = batch_size
        self._interval = interval
        self._pending: list[Finished] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def submit(self, exchange: Exchange, outcome: Outcome) -> None:
        self._pending.append((exchange, outcome))
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    async def take(self, exchange: Exchange, outcome: Outcome) -> None:
        """The outcome sink: queue the request's record."""
        self.submit(exchange, outcome)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="logbook")

    async def close(self) -> None:
        """Stop the background task and write everything still pending."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        while self._pending:
            await self.flush()

    async def flush(self) -> None:
        """Write the pending records in batches of at most `batch_size`, as many batches as were
        pending when it started (the last may take in records that arrived meanwhile).

        Draining until nothing is pending would, under a steady trickle, write batches of one or
        two records back to back, paying a thread hand-off and a transaction per request.
        """
        batches = -(-len(self._pending) // self._batch_size)
        for _ in range(batches):
            if not self._pending:
                break
            batch, self._pending = self._pending[: self._batch_size], self._pending[self._batch_size :]
            built = await asyncio.to_thread(self._build_all, batch)
            kept = [record for exchange, record in built if _collects(exchange)]
            kept = await self._within_caps([exchange for exchange, _ in batch], kept)
            if kept:
                await self._sink.write_logs(kept)
                await self._tell_stored(kept)

    async def _tell_stored(self, records: list[LogRecord]) -> None:
        for sink in self._stored:
            try:
                await sink(records)
            except Exception:  # the records are stored; a sink's failure must not stop the writer
                _log.exception("a sink of stored log records failed")

    async def _within_caps(self, batch: list[Exchange], kept: list[LogRecord]) -> list[LogRecord]:
        """Drop records of gateways that keep at most `max_records` and stop inserting at the cap."""
        capped = {
            (e.account, e.gateway_slug): e.gateway.settings.max_records
            for e in batch
            if e.gateway and e.gateway.settings.max_records and e.gateway.settings.on_max_records == "stop"
        }
        if not capped:
            return kept
        room = {key: cap - await self._sink.count_logs(*key) for key, cap in capped.items() if cap}
        allowed = []
        for record in kept:
            key = (record.account, record.gateway)
            if key in room:
                if room[key] <= 0:
                    continue
                room[key] -= 1
            allowed.append(record)
        return allowed

    def _build_all(self, batch: list[Finished]) -> list[tuple[Exchange, LogRecord]]:
        """Each exchange with its record; one whose record cannot be built at all is left out
        alone (the record builder stores a degraded record rather than raise, so this is rare)."""
        built = []
        for exchange, outcome in in_slices(batch):
            try:
                built.append((exchange, self._build(exchange, outcome)))
            except Exception:  # one record must not take its batch with it
                _log.exception("log record %s could not be built", exchange.id)
        return built

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # a failed write must not end logging; the records stay logged as lost
                _log.exception("writing a batch of log records failed")


def _collects(exchange: Exchange) -> bool:
    """Whether this request's record is stored: the gateway's `collect_logs` and the request's
    `cf-aig-collect-log` say."""
    return exchange.collect_log and (exchange.gateway is None or exchange.gateway.settings.collect_logs)
