"""The batching log writer: finished exchanges and their outcomes in, log records out, off the
request path.

`submit` (or `take`, the outcome sink) only appends to a list. A background task wakes every
`interval` seconds (or when a batch is full), builds the records on a worker thread and writes
them in one batch. `close()` drains everything, which is how a graceful shutdown keeps every
request's record.

With a spool (`spool.py`, as the gateway runs) a record cheap to build (no redaction rules, not a
universal request) is built in `take` and written to the spool there, before the answer's last
byte; the others are built on a thread of their own as they come and spooled milliseconds later
(`spool_builder.py`), never waiting for the flush or the database. The background task
then stores the spool's sealed segments, oldest first, and deletes each once stored. A database
that is down or slow only makes segments wait on disk: nothing waits for it in memory or on the
request path, and the records are stored when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import orjson

from sluicegate.background import Background
from sluicegate.exchange import Exchange
from sluicegate.logformat import fast_record_line, parse_record, record_line
from sluicegate.outcome import Outcome
from sluicegate.slices import in_slices
from sluicegate.spool import Spool, read_pieces
from sluicegate.spool_builder import SpoolBuilder
from sluicegate.storage.base import LineSink, LogRecord, LogSink
from sluicegate.storage.log_lines import needs_python
from sluicegate.unspooled import Kept, Unspooled

_log = logging.getLogger(__name__)
T = TypeVar("T")
Finished = tuple[Exchange, Outcome]
# Called with the records of a batch once they are stored (e.g. pushing them to a log collector).
Stored = Callable[[list[LogRecord]], Awaitable[None]]
CAP = "cap"  # a spool line's extra key: the gateway's `max_records` when it stops inserting there
RETRY_LIMIT = 5.0  # seconds between tries at most while the database is unreachable
WRITE_TIMEOUT = 5.0  # seconds a database call may take before the try fails (`timeouts.database_write`)
# A spool backlog of more batches than this: the database is not keeping up (the status endpoint
# says so), and on a core that never idles the log's jobs stop yielding it (background.py).
BEHIND_BATCHES = 10


class Logbook:
    def __init__(
        self,
        sink: LogSink,
        build: Callable[[Exchange, Outcome], LogRecord],
        batch_size: int,
        interval: float,
        stored: Sequence[Stored] = (),
        spool: Spool | None = None,
        cheap: Callable[[Exchange], bool] = lambda exchange: False,
        write_timeout: float = WRITE_TIMEOUT,
    ) -> None:
        self._sink = sink
        self._write_timeout = write_timeout
        self._build = build
        self._stored = stored
        self._batch_size = batch_size
        self._interval = interval
        self._pending: list[Finished] = []
        self._wake = asyncio.Event()
        self._closed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._spool = spool
        self._cheap = cheap
        self._retry = interval  # grows while the database is unreachable
        self._built = 0  # records built and spooled by the builder since the last flush began
        self.store_failures = 0
        self.failing_since: float | None = None  # epoch seconds of the first failure since a success
        self.unspooled = Unspooled()  # what the spool could not take (`unspooled.py`)
        self._waiting: set[asyncio.Future[object]] = set()  # see `CacheOutcome.record_after`
        # Building records and reading the spool, behind requests on threads of its own.
        self._background = Background("logbook")
        self._builder: SpoolBuilder | None = None
        if spool is not None:
            self._background.contention.watch(self.behind)
            self._builder = SpoolBuilder(self._build_all, self._spool_record, batch_size)

    def behind(self) -> bool:
        """Whether more records wait (in the spool or in memory) than `BEHIND_BATCHES` batches."""
        return self._spool is not None and self.backlog_records > BEHIND_BATCHES * self._batch_size

    # The backlog: records answered, not yet in the database, in the spool or kept in memory.
    @property
    def backlog_records(self) -> int:
        spooled = self._spool.backlog_records if self._spool is not None else 0
        unbuilt = self._builder.waiting if self._builder is not None else 0
        return spooled + self.unspooled.records + unbuilt

    @property
    def backlog_bytes(self) -> int:
        spooled = self._spool.backlog_bytes if self._spool is not None else 0
        return spooled + self.unspooled.bytes

    @property
    def dropped_records(self) -> int:
        """Records lost since start: the spool's oldest past its limit, and memory's past its own."""
        spooled = self._spool.dropped if self._spool is not None else 0
        return spooled + self.unspooled.dropped

    def submit(self, exchange: Exchange, outcome: Outcome) -> None:
        waiting = exchange.cache.record_after
        if waiting is not None and not waiting.done():  # its record is built once that is done
            self._waiting.add(waiting)

            def done(_: asyncio.Future[object]) -> None:
                self._waiting.discard(waiting)
                self.submit(exchange, outcome)

            waiting.add_done_callback(done)
            return
        if self._spool is not None:
            if not exchange.collects_log:
                return
            if self._cheap(exchange):
                self._to_spool(self._spool, exchange, self._build(exchange, outcome))
            elif self._builder is not None:
                self._builder.add((exchange, outcome))
            return
        self._pending.append((exchange, outcome))
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    async def take(self, exchange: Exchange, outcome: Outcome) -> None:
        """The outcome sink: queue the request's record."""
        self.submit(exchange, outcome)

    def start(self) -> None:
        if self._spool is not None:
            self._spool.open()  # takes in what a killed process left: stored by the first flush
        if self._builder is not None:
            self._builder.start()
        self._task = asyncio.create_task(self._run(), name="logbook")

    async def close(self) -> None:
        """Stop the background task and write everything still pending."""
        if self._waiting:
            # Their callbacks (`submit`) were added before gather's own, so they have run on return.
            await asyncio.gather(*self._waiting, return_exceptions=True)
        if self._builder is not None:
            await self._builder.close()  # every record built and spooled
        self._closing = True
        self._closed.set()
        self._wake.set()
        if self._task is not None:
            await self._task
        try:
            if self._spool is None:
                while self._pending:
                    await self.flush()
                return
            try:
                await self.flush()
                while self._pending:
                    await self.flush()
            except Exception:  # the database is unreachable: the records wait for the next start
                _log.warning("log records left in the spool at shutdown: the database could not take them")
            self._spool.close()
        finally:
            self._background.shutdown(wait=False)

    async def _behind(self, function: Callable[..., T], *args: Any) -> T:
        return await self._background.run(function, *args)

    async def flush(self) -> None:
        """Write the pending records in batches of at most `batch_size`, as many batches as were
        pending when it started (the last may take in records that arrived meanwhile).

        Draining until nothing is pending would, under a steady trickle, write batches of one or
        two records back to back, paying a thread hand-off and a transaction per request.
        """
        if self._builder is not None:
            await self._builder.drain()
            self._built = 0
        batches = -(-len(self._pending) // self._batch_size)
        for _ in range(batches):
            if not self._pending:
                break
            batch, self._pending = self._pending[: self._batch_size], self._pending[self._batch_size :]
            built = await self._behind(self._build_all, batch)
            if self._spool is not None:
                for exchange, record in built:
                    self._to_spool(self._spool, exchange, record)
                continue
            kept = [(record, _cap(exchange)) for exchange, record in built if exchange.collects_log]
            await self._store(kept)
            self.failing_since = None
        if self._spool is not None:
            if in_memory := self.unspooled.take():
                try:
                    await self._store([(item.record, item.cap) for item in in_memory])
                except BaseException:
                    self.unspooled.restore(in_memory)
                    raise
            await self._drain(self._spool)

    def _spool_record(self, exchange: Exchange, record: LogRecord) -> None:
        assert self._spool is not None, "built for the spool"
        self._to_spool(self._spool, exchange, record)
        self._built += 1
        if self._built >= self._batch_size:  # a batch's worth built: stored without waiting the interval
            self._wake.set()

    def _to_spool(self, spool: Spool, exchange: Exchange, record: LogRecord) -> None:
        """Append the record's line; if the spool cannot take it (disk full, a record that does not
        serialise), keep it in memory for the next write (`unspooled.py`; logged once an outage)."""
        line = b""
        try:
            line = _spool_line(exchange, record)
            spool.append(line)
        except Exception as exc:
            self.unspooled.keep(Kept(record, _cap(exchange), len(line)), exc)

    async def _drain(self, spool: Spool) -> None:
        """Store the spool's sealed segments, oldest first; each is deleted once stored. The
        first failure to store stops the pass: the rest wait on disk for the next. Making the next
        segment ahead may fail (a full disk): that stops nothing, as the segments stored free space."""
        spool.seal()
        await self._behind(spool.seal_detached)
        prepared = await self._prepare_next(spool)  # so the next request's line need not start one
        for path in spool.sealed():
            for chunk, plain in await self._behind(_read_batches, path, self._batch_size):
                if plain and await self._store_lines(chunk):
                    continue
                batch = await self._behind(_parse_lines, chunk)
                await self._store(batch)
            # The database took a whole segment: storing is not failing, before the backlog shrinks
            # (a failure on a later chunk of the same segment would store its first ones again).
            self.failing_since = None
            spool.stored(path)
        await self._behind(spool.seal_detached)  # deletes the segments just stored
        if not prepared:  # again, in the space they freed
            prepared = await self._prepare_next(spool)
        self.unspooled.pass_ended(prepared)

    async def _prepare_next(self, spool: Spool) -> bool:
        try:
            await self._behind(spool.prepare_next)
        except OSError as exc:
            self.unspooled.failed("its next segment could not be allocated", exc)
            return False
        return True

    async def _store_lines(self, lines: list[bytes]) -> bool:
        """Hand the lines as they are to a database that takes them (`LineSink`): no record is
        built in Python unless a sink of stored records needs them (or a line needs Python:
        `_read_batches`)."""
        if self._stored or not isinstance(self._sink, LineSink):
            return False
        return await self._bounded(self._sink.write_log_lines(lines))

    async def _store(self, kept: list[tuple[LogRecord, int | None]]) -> None:
        records = await self._within_caps(kept)
        if records:
            await self._bounded(self._sink.write_logs(records))
            await self._tell_stored(records)

    async def _bounded(self, call: Awaitable[T]) -> T:
        """A database call, given up after `write_timeout` (TimeoutError: the try failed, and the
        records stay where they wait), so a database that stopped answering counts as failing that
        soon. Not waited for while it winds down: a driver's cancel on a stalled connection may take
        long. Storing a batch again is harmless: records are keyed by id and rolled up once."""
        task = asyncio.ensure_future(call)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self._write_timeout)
        except TimeoutError:
            task.cancel()
            task.add_done_callback(_retrieve)
            raise

    async def _tell_stored(self, records: list[LogRecord]) -> None:
        for sink in self._stored:
            try:
                await sink(records)
            except Exception:  # the records are stored; a sink's failure must not stop the writer
                _log.exception("a sink of stored log records failed")

    async def _within_caps(self, kept: list[tuple[LogRecord, int | None]]) -> list[LogRecord]:
        """Drop records of gateways that keep at most `max_records` and stop inserting at the cap
        (each record comes with its gateway's cap, or None)."""
        capped = {(record.account, record.gateway): cap for record, cap in kept if cap}
        room = {key: cap - await self._bounded(self._sink.count_logs(*key)) for key, cap in capped.items()}
        allowed = []
        for record, _ in kept:
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
                _log.exception("log record %s could not be built", exchange.request.id)
        return built

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                await self.flush()
                self._retry = self._interval
                self.failing_since = None
            except Exception:  # a failed write must not end logging
                self.store_failures += 1
                if self.failing_since is None:
                    self.failing_since = time.time()
                if self._spool is None:  # the batch is lost
                    _log.exception("writing a batch of log records failed")
                    continue
                # The records wait in the spool; try again later, less often while it lasts.
                _log.warning(
                    "storing log records in the database failed; %d wait in the spool, %d in memory",
                    self._spool.backlog_records,
                    self.unspooled.records,
                    exc_info=True,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), self._retry)
                self._retry = min(self._retry * 2, RETRY_LIMIT)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # a write given up on: its end is not an error to report again


def _cap(exchange: Exchange) -> int | None:
    """The gateway's `max_records` when it stops inserting at that many, else None."""
    settings = exchange.gateway.settings if exchange.gateway else None
    if settings and settings.max_records and settings.on_max_records == "stop":
        return settings.max_records
    return None


def _spool_line(exchange: Exchange, record: LogRecord) -> bytes:
    cap = _cap(exchange)
    return record_line(record, cap=cap) if cap else fast_record_line(record)


def _read_batches(path: Path, size: int) -> list[tuple[list[bytes], bool]]:
    """A segment's lines in batches of `size`, each with whether it may be stored as lines (no
    line needs Python: `needs_python`, asked of each piece read rather than of a batch joined,
    which would hold the interpreter lock for as long as the event loop handles a request)."""
    lines: list[bytes] = []
    python: list[bool] = []  # per line: whether its piece holds a line that needs Python
    for piece in read_pieces(path):
        found = piece.split(b"\n")
        lines += found
        python += [needs_python([piece])] * len(found)
    return [
        (lines[start : start + size], not any(python[start : start + size]))
        for start in range(0, len(lines), size)
    ]


def _parse_lines(lines: list[bytes]) -> list[tuple[LogRecord, int | None]]:
    parsed = []
    for line in lines:
        try:
            value = orjson.loads(line)
            parsed.append((parse_record(value, frozenset({CAP})), value.get(CAP)))
        except (ValueError, AttributeError):  # one bad line (a foreign file?) must not block the rest
            _log.exception("a line of the log spool is not a log record; it is skipped")
    return parsed
