"""The log spool: bounded on disk (oldest records dropped first), a killed process's segments adopted
by the next one (never a live one's), a torn last line left out, and a logbook whose database
fails keeps its records on disk, not in memory, until the database takes them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from sluicegate import spool as spool_module
from sluicegate.exchange import Exchange
from sluicegate.logbook import Logbook, _read_batches
from sluicegate.numbered_segments import NumberedSegments
from sluicegate.outcome import NO_OUTCOME, Outcome
from sluicegate.spool import Spool, read_lines, read_pieces
from sluicegate.storage.base import LogRecord
from tests.pipeline.test_log import ListSink, exchange, summary
from tests.segments import while_made_ahead

LINE = b'{"n": 1}\n'


def lines_in(directory: Path) -> list[bytes]:
    return [line for segment in sorted(directory.rglob("*.ndjson")) for line in read_lines(segment)]


def run_now(job: Callable[[], None]) -> None:
    job()


def test_over_its_limit_the_spool_drops_its_oldest_records(tmp_path: Path) -> None:
    # Segments of ten lines, the next made ahead at once (not on a thread: numbered in turn).
    spool = Spool(tmp_path, max_bytes=16 * 10 * len(LINE), ahead=run_now)
    spool.open()
    for n in range(250):
        spool.append(b'{"n": %d}\n' % (n % 10))  # every line the same length
    spool.seal()
    assert spool.backlog_bytes <= 16 * 10 * len(LINE)
    assert spool.dropped == 250 - spool.backlog_records
    assert spool.dropped > 0
    kept = lines_in(tmp_path)
    assert len(kept) == spool.backlog_records
    # The newest are kept: the segments left are the last ones written.
    assert spool.sealed() == sorted(spool.sealed())
    assert spool.sealed()[-1].name == f"{25:012d}.ndjson"
    spool.close()


def test_a_killed_process_segments_are_adopted_and_a_live_one_is_not(tmp_path: Path) -> None:
    killed = (
        "import os, signal, sys; from pathlib import Path; from sluicegate.spool import Spool\n"
        "spool = Spool(Path(sys.argv[1]), 1 << 20); spool.open()\n"
        "for n in range(3): spool.append(b'{\"killed\": %d}\\n' % n)\n"
        "spool.append(b'{\"torn')\n"  # a write cut short by the kill
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    live = Spool(tmp_path, 1 << 20)
    live.open()
    live.append(b'{"live": 1}\n')
    process = subprocess.run([sys.executable, "-c", killed, str(tmp_path)], env=os.environ, check=False)
    assert process.returncode == -9
    after = Spool(tmp_path, 1 << 20)
    after.open()
    adopted = [line for path in after.sealed() for line in read_lines(path)]
    assert adopted == [b'{"killed": 0}', b'{"killed": 1}', b'{"killed": 2}']
    assert after.backlog_records == 3  # the torn line is no record: its request got no answer
    assert len([path for path in tmp_path.iterdir() if path.is_dir()]) == 2  # the live one's and ours
    live.close()
    after.close()


class FailingSink(ListSink):
    """A database that is down until a test says otherwise (`down`), or for its first `failures`
    writes."""

    def __init__(self, failures: int | None = None) -> None:
        super().__init__()
        self.down = True
        self._failures = failures

    async def write_logs(self, records: list[LogRecord]) -> None:
        if self.down:
            if self._failures is not None:
                self._failures -= 1
                self.down = self._failures > 0
            raise ConnectionError("the database is down")
        await super().write_logs(records)


async def test_records_wait_on_disk_while_the_database_is_down(tmp_path: Path) -> None:
    sink = FailingSink()
    spool = Spool(tmp_path, 1 << 20)
    logbook = Logbook(sink, summary, batch_size=4, interval=60, spool=spool, cheap=lambda _: True)
    logbook.start()
    finished = [exchange() for _ in range(10)]
    for item in finished:
        logbook.submit(item, NO_OUTCOME)
    assert len(lines_in(tmp_path)) == 10  # on disk as soon as submitted
    with pytest.raises(ConnectionError):
        await logbook.flush()
    assert spool.backlog_records == 10
    sink.down = False
    await logbook.flush()
    assert sorted(r.id for r in sink.records) == sorted(e.request.id for e in finished)
    assert spool.backlog_records == 0
    assert lines_in(tmp_path) == []
    await logbook.close()


class FullSpool(Spool):
    """A spool on a full disk."""

    def append(self, line: bytes) -> None:
        raise OSError(28, "No space left on device")


async def test_a_record_the_spool_cannot_take_is_stored_from_memory(tmp_path: Path) -> None:
    sink = FailingSink()
    logbook = Logbook(sink, summary, batch_size=4, interval=60, spool=FullSpool(tmp_path, 1 << 20))
    logbook.start()
    finished = [exchange() for _ in range(3)]
    for item in finished:
        logbook.submit(item, NO_OUTCOME)  # built on the worker thread, then refused by the spool
    with pytest.raises(ConnectionError):
        await logbook.flush()
    sink.down = False
    await logbook.flush()  # kept through the failed write
    assert sorted(r.id for r in sink.records) == sorted(e.request.id for e in finished)
    await logbook.close()


def test_the_next_segment_is_made_ahead_and_an_unused_one_removed_at_close(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    spool.open()
    spool.append(LINE)
    spool.seal()
    spool.prepare_next()  # a worker thread's job after each drain
    made = {path.name for path in tmp_path.rglob("*.ndjson")} - {path.name for path in spool.sealed()}
    assert len(made) == 1  # made ahead, holding nothing yet
    spool.append(LINE)  # takes it: no segment is started on the request path
    spool.seal()
    assert spool.sealed()[-1].name in made
    assert lines_in(tmp_path) == [LINE.rstrip(), LINE.rstrip()]
    spool.prepare_next()
    spool.prepare_next()  # one at most
    for path in spool.sealed():
        spool.stored(path)
    spool.seal_detached()  # deletes what was stored
    assert len(list(tmp_path.rglob("*.ndjson"))) == 1
    spool.close()
    assert not list(tmp_path.iterdir())  # the unused segment and the process directory are gone


def test_a_half_full_segment_has_the_next_one_made_ahead_at_once(tmp_path: Path) -> None:
    """Under load the drain seals segments less often than they fill (a saturated core delays it):
    the next one is made ahead, off the event loop, as soon as the one being written is half full,
    so the loop does not start one itself (creating the file and faulting in its pages)."""
    jobs: list[Callable[[], None]] = []
    spool = Spool(tmp_path, max_bytes=16 * 10 * len(LINE), ahead=jobs.append)  # segments of ten lines
    spool.open()
    for _ in range(4):
        spool.append(LINE)
    assert jobs == []
    spool.append(LINE)  # half full
    spool.append(LINE)
    assert len(jobs) == 1  # once a segment
    writing = {path.name for path in tmp_path.rglob("*.ndjson")}
    jobs.pop()()  # the thread's job
    made = {path.name for path in tmp_path.rglob("*.ndjson")} - writing
    assert len(made) == 1
    for _ in range(5):  # the tenth line fills the segment, the eleventh starts the next
        spool.append(LINE)
    spool.seal()
    assert spool.sealed()[-1].name in made
    assert lines_in(tmp_path) == [LINE.rstrip()] * 11
    spool.close()


def test_a_segment_that_cannot_be_made_ahead_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """On the spool's own thread a failure (a full disk) reaches no caller: it is logged, and the
    loop starts the next segment itself."""

    def full(segments: NumberedSegments, last_used: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(NumberedSegments, "make_ahead", full)
    spool = Spool(tmp_path, max_bytes=16 * 10 * len(LINE))  # segments of ten lines
    spool.open()
    for _ in range(11):  # half full at the fifth: asked on the spool's thread
        spool.append(LINE)
    spool.close()  # waits for the thread
    assert "next segment could not be made ahead: [Errno 28] No space left on device" in caplog.text
    assert lines_in(tmp_path) == [LINE.rstrip()] * 11


def test_a_line_bigger_than_the_segment_made_ahead_gets_its_own(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 16 * 64)  # segments of 64 bytes
    spool.open()
    spool.prepare_next()
    big = b'{"n": "' + b"x" * 200 + b'"}\n'
    spool.append(big)
    spool.seal()
    assert lines_in(tmp_path) == [big.rstrip()]
    spool.seal_detached()  # the drain's worker: the small one made ahead is closed and removed
    assert len(list(tmp_path.rglob("*.ndjson"))) == 1
    spool.close()


def test_a_segment_is_read_back_a_piece_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In pieces that end at a line's end, a line longer than a piece kept whole; a torn last line
    and the zeros of a segment never sealed left out (the drain reads on a worker thread, and each
    read lets the event loop take the interpreter lock back)."""
    monkeypatch.setattr(spool_module, "READ_BYTES", 16)
    lines = [b'{"n": 1}', b'{"long": "' + b"x" * 40 + b'"}', b'{"n": 3}', b'{"n": 4}']
    path = tmp_path / "1.ndjson"
    path.write_bytes(b"\n".join(lines) + b'\n{"torn' + b"\0" * 50)
    pieces = list(read_pieces(path))
    assert len(pieces) > 1
    assert [line for piece in pieces for line in piece.split(b"\n")] == lines == read_lines(path)
    path.write_bytes(b"\0" * 100)  # made ahead, never written
    assert read_lines(path) == []
    assert read_lines(tmp_path / "gone.ndjson") == []


def test_only_the_batches_of_a_piece_with_a_line_that_needs_python_go_the_python_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_module, "READ_BYTES", 64)  # a line of 64 bytes a piece
    plain = [b'{"n": %d, "pad": "%s"}' % (n, b"p" * 44) for n in range(8)]
    nul = b'{"n": 8, "text": "a\\u0000b"}'  # PostgreSQL's text cannot hold it
    assert {len(line) + 1 for line in plain} == {64}
    path = tmp_path / "1.ndjson"
    path.write_bytes(b"\n".join([*plain, nul]) + b"\n")
    batches = _read_batches(path, 2)
    assert [line for batch, _ in batches for line in batch] == [*plain, nul]
    assert [ok for _, ok in batches] == [True, True, True, True, False]
    monkeypatch.setattr(spool_module, "READ_BYTES", 192)  # three lines a piece: 6 to 8 share one
    assert [ok for _, ok in _read_batches(path, 1)] == [True] * 6 + [False] * 3


def test_a_segment_made_ahead_never_takes_lines_newer_than_a_later_numbered_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event loop starts a segment of its own while the worker is still making one ahead:
    the one made ahead is given up, since segments are drained, adopted and dropped in number
    order."""
    spool = Spool(tmp_path, 1 << 20)
    spool.open()
    while_made_ahead(monkeypatch, lambda: spool.append(LINE))  # nothing waits: the loop starts one
    spool.prepare_next()
    spool.seal()
    spool.append(LINE)
    spool.seal()
    names = [path.name for path in spool.sealed()]
    assert len(names) == 2
    assert names == sorted(names)
    assert sorted(path.name for path in tmp_path.rglob("*.ndjson")) == names  # the given-up one is gone


def test_a_spool_closed_while_a_segment_is_made_ahead_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path, 1 << 20)
    spool.open()
    while_made_ahead(monkeypatch, spool.close)
    spool.prepare_next()
    assert not list(tmp_path.rglob("*.ndjson"))
    assert spool._segments._next is None


async def test_a_record_costly_to_build_reaches_the_spool_without_waiting_for_a_flush(tmp_path: Path) -> None:
    """Redacted and universal requests' records are built off the event loop: on a thread of their
    own as they come, not at the next flush (an interval away, or longer while the database is down,
    behind an idle-class thread), so a `kill -9` loses only the few milliseconds of a build."""
    sink = FailingSink()
    spool = Spool(tmp_path, 1 << 20)
    logbook = Logbook(sink, summary, batch_size=4, interval=60, spool=spool, cheap=lambda _: False)
    logbook.start()
    finished = [exchange() for _ in range(10)]
    for item in finished:
        logbook.submit(item, NO_OUTCOME)
    assert logbook.backlog_records == 10  # waiting in memory for their build, and counted
    deadline = asyncio.get_running_loop().time() + 10
    while len(lines_in(tmp_path)) < 10:  # no flush runs: its interval is a minute away
        assert asyncio.get_running_loop().time() < deadline, lines_in(tmp_path)
        await asyncio.sleep(0.01)
    assert spool.backlog_records == 10
    assert sink.records == []
    sink.down = False
    await logbook.close()
    assert sorted(r.id for r in sink.records) == sorted(e.request.id for e in finished)


async def test_a_flush_during_a_build_stores_the_record_being_built(tmp_path: Path) -> None:
    """A flush that comes while a record is on the build thread waits for it: what was answered
    before the flush is stored by it (the build had taken the record off the waiting list, so the
    flush found nothing to build and returned without it)."""
    started, release = threading.Event(), threading.Event()

    def slow_summary(finished: Exchange, outcome: Outcome) -> LogRecord:
        started.set()
        assert release.wait(10), "never released"
        return summary(finished, outcome)

    sink = ListSink()
    logbook = Logbook(sink, slow_summary, batch_size=4, interval=60, spool=Spool(tmp_path, 1 << 20))
    logbook.start()
    item = exchange()
    logbook.submit(item, NO_OUTCOME)
    assert await asyncio.to_thread(started.wait, 10), "the build never started"
    flushing = asyncio.ensure_future(logbook.flush())
    await asyncio.sleep(0)  # the flush runs up to its wait for the build under way
    release.set()
    await flushing
    assert [record.id for record in sink.records] == [item.request.id]
    await logbook.close()
