"""The log writer batches: a flush writes what was pending when it started, not what trickles in."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sluicegate.exchange import Exchange
from sluicegate.logbook import Logbook
from sluicegate.outcome import NO_OUTCOME, Outcome
from sluicegate.spool import Spool
from sluicegate.storage.base import LogRecord
from tests.pipeline.test_log import ListSink, exchange, summary
from tests.pipeline.test_spool import FailingSink


class BatchSink(ListSink):
    """A sink that records the size of each batch written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    async def write_logs(self, records: list[LogRecord]) -> None:
        self.batches.append(len(records))
        await super().write_logs(records)


class GatedSink(BatchSink):
    """A sink whose writes wait until the test lets them finish."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = asyncio.Event()
        self.proceed = asyncio.Event()

    async def write_logs(self, records: list[LogRecord]) -> None:
        self.writing.set()
        await self.proceed.wait()
        self.proceed.clear()
        self.writing.clear()
        await super().write_logs(records)


async def test_records_arriving_during_a_write_wait_for_the_next_flush() -> None:
    sink = GatedSink()
    logbook = Logbook(sink, summary, batch_size=100, interval=60)
    first: list[Exchange] = [exchange() for _ in range(3)]
    for item in first:
        logbook.submit(item, NO_OUTCOME)
    flushing = asyncio.create_task(logbook.flush())
    await sink.writing.wait()
    late = exchange()
    logbook.submit(late, NO_OUTCOME)  # a request that finishes while the batch is written
    sink.proceed.set()
    # Draining until nothing is pending would start a second write (of the late record alone) that
    # waits for the test: the timeout turns that into a failure instead of a hang.
    await asyncio.wait_for(flushing, timeout=10)
    assert sink.batches == [3]
    assert [r.id for r in sink.records] == [e.request.id for e in first]
    sink.proceed.set()
    await logbook.flush()
    assert sink.batches == [3, 1]
    assert sink.records[-1].id == late.request.id


class SubmittingSink(BatchSink):
    """`during_first_write` runs inside the first write (requests finishing meanwhile)."""

    def __init__(self) -> None:
        super().__init__()
        self.during_first_write: list[Callable[[], None]] = []

    async def write_logs(self, records: list[LogRecord]) -> None:
        while self.during_first_write:
            self.during_first_write.pop()()
        await super().write_logs(records)


async def test_close_writes_everything_in_batches_of_at_most_batch_size() -> None:
    sink = SubmittingSink()
    logbook = Logbook(sink, summary, batch_size=4, interval=60)
    submitted = [exchange() for _ in range(10)]
    late = [exchange() for _ in range(3)]
    for item in submitted:
        logbook.submit(item, NO_OUTCOME)

    def late_requests_finish() -> None:
        for item in late:
            logbook.submit(item, NO_OUTCOME)

    sink.during_first_write.append(late_requests_finish)
    await logbook.close()
    # The first flush writes the three batches pending when it started (the last takes in two late
    # records); close() goes round again for the one left.
    assert sink.batches == [4, 4, 4, 1]
    assert [r.id for r in sink.records] == [e.request.id for e in submitted + late]


async def test_the_event_loop_keeps_running_while_a_batch_is_built() -> None:
    """Records are built on a worker thread that gives the GIL up between short slices: without
    that, the loop would wait for the whole batch (here with a long switch interval, which makes
    the difference plain: 100 ms of building against pauses every 0.5 ms)."""

    def slow_summary(item: Exchange, outcome: Outcome) -> LogRecord:
        busy_until = time.perf_counter() + 0.001  # a millisecond of pure-Python work per record
        while time.perf_counter() < busy_until:
            pass
        return summary(item, outcome)

    logbook = Logbook(ListSink(), slow_summary, batch_size=200, interval=60)
    for _ in range(100):
        logbook.submit(exchange(), NO_OUTCOME)
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.5)
    try:
        flushing = asyncio.create_task(logbook.flush())
        gaps, started = [], time.perf_counter()
        last = started
        while not flushing.done():
            await asyncio.sleep(0)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
        await flushing
        took = time.perf_counter() - started
    finally:
        sys.setswitchinterval(switch_interval)
    # Without slices the loop would wait for the whole batch: one gap as long as the flush. Relative
    # to the flush, so a busy machine that stretches both does not fail it.
    assert max(gaps) < took / 4, (max(gaps), took)


async def test_sinks_of_stored_records_get_each_batch_once_it_is_stored() -> None:
    sink = BatchSink()
    told: list[tuple[list[str], int]] = []

    async def stored(records: list[LogRecord]) -> None:
        told.append(([r.id for r in records], len(sink.records)))  # what the database held by then

    async def failing(records: list[LogRecord]) -> None:
        raise RuntimeError("collector down")

    logbook = Logbook(sink, summary, batch_size=2, interval=60, stored=[failing, stored])
    kept, dropped = [exchange() for _ in range(3)], exchange()
    dropped.options.collect_log = False  # cf-aig-collect-log: false
    for item in [*kept[:2], dropped, kept[2]]:
        logbook.submit(item, NO_OUTCOME)

    await logbook.close()

    # Only what was stored, batch by batch, after the write; a sink that fails stops neither
    # the others nor the writer.
    assert told == [([kept[0].request.id, kept[1].request.id], 2), ([kept[2].request.id], 3)]
    assert sink.batches == [2, 1]


async def test_the_log_workers_leave_a_busy_core_to_requests_until_ten_batches_wait(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=64 * 1024 * 1024)
    spool.open()
    logbook = Logbook(BatchSink(), summary, batch_size=2, interval=60, spool=spool)
    contention = logbook._background.contention
    try:
        contention.starved()  # a job starved: the core is busy
        for n in range(20):
            spool.append(b'{"n": %d}\n' % n)
        spool.seal()
        assert not logbook.behind()
        assert not contention.busy()  # 20 records, ten batches of 2: not behind yet
        spool.append(b'{"n": 20}\n')
        spool.seal()
        assert logbook.behind()
        assert contention.busy()
    finally:
        spool.close()


class WatchedSpool(Spool):
    """A spool that notes the logbook's `failing_since` whenever a stored segment leaves its backlog."""

    def __init__(self, directory: Path, logbook: list[Logbook]) -> None:
        super().__init__(directory, max_bytes=64 * 1024 * 1024)
        self.logbook = logbook
        self.failing_when_stored: list[float | None] = []

    def stored(self, path: Path) -> None:
        self.failing_when_stored.append(self.logbook[0].failing_since)
        super().stored(path)


async def test_storing_is_not_failing_once_the_backlog_it_failed_on_is_stored(tmp_path: Path) -> None:
    """`failing_since` (the status endpoint's "behind") clears as a stored segment leaves the
    backlog, not only once the whole flush has ended: an empty backlog never shows as failing."""
    sink = FailingSink(failures=1)
    owner: list[Logbook] = []
    spool = WatchedSpool(tmp_path, owner)
    drained = asyncio.Event()

    async def stored(records: list[LogRecord]) -> None:
        if len(sink.records) == 5:
            drained.set()

    logbook = Logbook(sink, summary, batch_size=2, interval=0.001, stored=[stored], spool=spool)
    owner.append(logbook)
    logbook.start()
    try:
        for _ in range(5):
            logbook.submit(exchange(), NO_OUTCOME)
        await asyncio.wait_for(drained.wait(), 10)
        assert logbook.store_failures >= 1  # the first try failed, so storing was failing
        assert spool.failing_when_stored
        assert spool.failing_when_stored == [None] * len(spool.failing_when_stored)
    finally:
        await logbook.close()
