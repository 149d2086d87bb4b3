"""A mapped segment holds exactly the lines appended, whether it was sealed or its writer was
killed; a line that does not fit is refused whole; a full disk fails when the segment starts."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest

from sluicegate.mapped_segment import MappedSegment, Sealer, written_part
from sluicegate.storage import charge_journal
from sluicegate.storage.charge_journal import ChargeJournal, Replayed
from tests.segments import while_made_ahead


def adopted(root: Path) -> Replayed:
    """What a journal starting under `root` replays of the directories left there (no marks)."""
    journal = ChargeJournal(root)
    journal.claim()
    journal.take_orphans()
    return journal.adopt({})


def test_a_sealed_segment_holds_the_lines_and_nothing_after(tmp_path: Path) -> None:
    segment = MappedSegment(tmp_path / "1.log", 64)
    assert segment.append(b"one\n")
    assert segment.append(b"two\n")
    assert not segment.append(b"x" * 60)  # would not fit: nothing of it is written
    segment.seal()
    assert (tmp_path / "1.log").read_bytes() == b"one\ntwo\n"


def test_a_segment_whose_writer_died_reads_back_without_its_zeros(tmp_path: Path) -> None:
    path = tmp_path / "1.log"
    segment = MappedSegment(path, 4096)
    segment.append(b'[["f","k",1,2,3]]\n')
    segment._map.close()  # as a kill leaves it: not cut to size
    os.close(segment._fd)
    data = path.read_bytes()
    assert len(data) == 4096  # the copy reached the file without a write()
    assert written_part(data) == b'[["f","k",1,2,3]]\n'


def test_a_line_cut_short_by_a_kill_is_left_out_and_the_rest_replayed(tmp_path: Path) -> None:
    path = tmp_path / "1.log"
    whole = b'[["d","k",1.0,2.0,3.0]]\n'
    path.write_bytes(whole + b'[["s","k",1.0,2' + b"\0" * 100)
    replayed = Replayed([], [], [])
    charge_journal._read(path, replayed)
    assert replayed.fixed == [("k", 1.0, 2.0, 3.0)]
    assert replayed.sliding == []


def test_a_busy_journal_starts_new_segments_and_replays_them_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(charge_journal, "SEGMENT_BYTES", 64)
    journal = ChargeJournal(tmp_path)
    journal.claim()
    for n in range(10):
        journal.append([("s", f"k{n}", float(n), 1.0, 99.0)])
    assert journal.seal() >= 5  # 10 lines of ~30 bytes in segments of 64
    journal._lock, lock = -1, journal._lock
    os.close(lock)  # the directory is left for another journal to adopt
    replayed = adopted(tmp_path)
    assert sorted(replayed.sliding) == [(f"k{n}", float(n), 1.0, 99.0) for n in range(10)]


def test_a_detached_segment_reads_whole_before_a_worker_seals_it(tmp_path: Path) -> None:
    path = tmp_path / "1.log"
    segment = MappedSegment(path, 4096)
    segment.append(b"one\n")
    sealer = Sealer()
    sealer.detach(segment)  # what the event loop does: no truncation there
    assert path.stat().st_size == 4096
    assert written_part(path.read_bytes()) == b"one\n"
    sealer.seal_detached()  # what the worker thread does
    assert path.read_bytes() == b"one\n"


@pytest.mark.skipif(not hasattr(resource, "RUSAGE_THREAD"), reason="counts this thread's page faults")
def test_appends_into_a_prefaulted_segment_take_no_page_fault(tmp_path: Path) -> None:
    """A first copy into a page faults, and on ext4 a write fault may wait on the journal: the
    spool prefaults the segment it makes ahead, on a worker thread."""
    line = b"x" * 1023 + b"\n"

    def faults_appending(segment: MappedSegment) -> int:
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        for _ in range(64):  # 64 KiB: 16 pages
            assert segment.append(line)
        return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before

    cold = MappedSegment(tmp_path / "cold.log", 1 << 20)
    warm = MappedSegment(tmp_path / "warm.log", 1 << 20)
    if not warm.prefault(64 << 10):
        pytest.skip("this system cannot fault pages in ahead (Linux 5.14's MADV_POPULATE_WRITE)")
    assert faults_appending(cold) >= 8
    assert faults_appending(warm) <= 2  # an allocation of the interpreter's own, at most
    for segment in (cold, warm):
        segment.seal()
        assert segment.path.read_bytes() == line * 64  # prefaulting wrote nothing


def test_the_journal_takes_the_segment_made_ahead_and_keeps_its_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next count after a copy writes into the segment made ahead on a worker thread; one made
    while the loop had to start a segment of its own is given up (a copy covers the segments up to
    the one being written, by number)."""
    journal = ChargeJournal(tmp_path)
    journal.claim()
    journal.append([("s", "k0", 0.0, 1.0, 99.0)])
    journal.seal()
    journal.prepare_next()
    assert journal._segments._next is not None
    made = journal._segments._next.path
    journal.append([("s", "k1", 1.0, 1.0, 99.0)])
    assert journal._segment is not None
    assert journal._segment.path == made
    journal.seal()

    # Nothing made ahead yet: the loop numbers and starts a segment of its own.
    while_made_ahead(monkeypatch, lambda: journal.append([("s", "k2", 2.0, 1.0, 99.0)]))
    journal.prepare_next()
    assert journal._segments._next is None  # given up
    assert journal.seal() == 4  # the loop's segment: 3 was given to the one given up
    journal._lock, lock = -1, journal._lock
    os.close(lock)  # left for another journal to adopt
    replayed = adopted(tmp_path)
    assert sorted(replayed.sliding) == [(f"k{n}", float(n), 1.0, 99.0) for n in range(3)]


def test_a_journal_closed_while_a_segment_is_made_ahead_keeps_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(The limiter closes its journal after its worker has stopped; this is the journal's own
    guard. Its directory may stay, with no segment, for the next start to adopt and remove.)"""
    journal = ChargeJournal(tmp_path)
    journal.claim()
    while_made_ahead(monkeypatch, journal.close)
    journal.prepare_next()
    assert journal._segments._next is None
    assert list(tmp_path.rglob("*.log")) == []
