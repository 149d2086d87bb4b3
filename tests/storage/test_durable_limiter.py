"""The embedded counters survive a restart: what settled is journaled as it is counted and copied to
`counters.db` behind the request path, and read back at start — after a kill too, each use exactly
once; reservations still held are not (a restart releases them)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest

from sluicegate.mapped_segment import written_part
from sluicegate.storage.durable_limiter import DurableLimiter
from sluicegate.storage.limiter import Bucket, Claim

NOW = 1_000_820.0  # 20 s into an hour
COST = Bucket("cost", limit=1.0, period=3600, sliding=False, unit="cost")
TOKENS = Bucket("tokens", limit=100, period=600, sliding=True, unit="tokens")
REQUESTS = Bucket("requests", limit=3, period=60, sliding=True)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def opened(tmp_path: Path, clock: Clock) -> AsyncIterator[Callable[[], DurableLimiter]]:
    """Opens limiters on one file (a long interval: copies happen when a test says so)."""
    limiters: list[DurableLimiter] = []

    async def make() -> DurableLimiter:
        limiter = DurableLimiter(tmp_path / "counters.db", clock, interval=3600)
        await limiter.open()
        limiters.append(limiter)
        return limiter

    yield make  # type: ignore[misc]
    for limiter in limiters:
        if not limiter._closing:
            await limiter.close()


async def kill(limiter: DurableLimiter) -> None:
    """Leave the files as a SIGKILL would: no last copy, no cleanup; only the descriptors go."""
    limiter._closing = True
    if limiter._task is not None:
        limiter._task.cancel()
    journal = limiter._charges
    if journal._segment is not None:  # unmapped, not cut to size: it ends in zeros, as a kill leaves it
        journal._segment._map.close()
        os.close(journal._segment._fd)
        journal._segment = None
    if journal._lock >= 0:
        os.close(journal._lock)
    journal._lock = -1
    await limiter._on_thread(limiter._file.close)
    limiter._executor.shutdown(wait=False)


def segments(tmp_path: Path) -> list[Path]:
    """The journal's segments that hold lines. Each journal may also keep one empty segment, made
    ahead for its next count, and no more."""
    found = sorted((tmp_path / "counters-journal").rglob("*.log"))
    empty = [path for path in found if not written_part(path.read_bytes())]
    assert max(Counter(path.parent for path in empty).values(), default=0) <= 1, empty
    return [path for path in found if path not in empty]


async def spend(limiter: DurableLimiter, reserved: float, used: float, bucket: Bucket = COST) -> None:
    verdict = await limiter.admit([Claim(bucket, reserved)], NOW)
    assert verdict.allowed
    await limiter.settle(verdict.holds, [used], NOW)


async def test_a_clean_stop_keeps_every_settled_use(opened: Callable[..., DurableLimiter]) -> None:
    first = await opened()
    await spend(first, 0.5, 0.375)
    await spend(first, 40, 30, TOKENS)
    for _ in range(2):
        assert (await first.admit([Claim(REQUESTS, 1)], NOW)).allowed
    await first.close()
    second = await opened()
    cost, tokens, requests = await second.usage([COST, TOKENS, REQUESTS], NOW)
    assert (cost.used, tokens.used, requests.used) == (0.375, 30, 2)
    assert (await second.admit([Claim(REQUESTS, 1)], NOW)).allowed
    assert not (await second.admit([Claim(REQUESTS, 1)], NOW)).allowed  # 3 a minute, over a restart


async def test_held_reservations_are_released_by_a_restart(opened: Callable[..., DurableLimiter]) -> None:
    first = await opened()
    await spend(first, 0.25, 0.25)
    held = await first.admit([Claim(COST, 0.5), Claim(TOKENS, 60)], NOW)  # never settled
    assert held.allowed
    await first.close()
    second = await opened()
    cost, tokens = await second.usage([COST, TOKENS], NOW)
    assert (cost.used, tokens.used) == (0.25, 0)


async def test_a_reserved_request_survives_a_kill_once_kept_and_never_once_given_back(
    opened: Callable[..., DurableLimiter],
) -> None:
    first = await opened()
    fixed = Bucket("fixed requests", limit=3, period=60, sliding=False)
    kept = await first.reserve([Claim(REQUESTS, 1), Claim(fixed, 1)], NOW)
    await first.settle(kept.holds, [1, 1], NOW)
    given_back = await first.reserve([Claim(REQUESTS, 1), Claim(fixed, 1)], NOW)
    await first.settle(given_back.holds, [0, 0], NOW)
    assert (await first.reserve([Claim(REQUESTS, 1), Claim(fixed, 1)], NOW)).allowed  # never settled
    await kill(first)
    survivor = await opened()
    assert [u.used for u in await survivor.usage([REQUESTS, fixed], NOW)] == [1, 1]


async def test_a_kill_loses_nothing_that_settled(opened: Callable[..., DurableLimiter]) -> None:
    first = await opened()
    await spend(first, 0.5, 0.5)
    await spend(first, 40, 30, TOKENS)
    await first.flush()
    await spend(first, 0.25, 0.25)  # settled after the copy: in the journal alone
    await spend(first, 40, 20, TOKENS)
    assert (await first.admit([Claim(REQUESTS, 1)], NOW)).allowed  # counted on admission
    await kill(first)
    survivor = await opened()
    assert [u.used for u in await survivor.usage([COST, TOKENS, REQUESTS], NOW)] == [0.75, 50, 1]


async def test_a_replayed_journal_counts_once_over_further_kills_and_copies(
    opened: Callable[..., DurableLimiter], tmp_path: Path
) -> None:
    first = await opened()
    await spend(first, 0.25, 0.25)
    await spend(first, 10, 10, TOKENS)
    await kill(first)  # nothing copied yet
    second = await opened()  # replays the journal...
    await kill(second)  # ...and is killed before copying it
    third = await opened()
    assert [u.used for u in await third.usage([COST, TOKENS], NOW)] == [0.25, 10]
    await third.flush()
    assert segments(tmp_path) == []  # in counters.db now
    await spend(third, 10, 5, TOKENS)
    await kill(third)
    fourth = await opened()
    assert [u.used for u in await fourth.usage([COST, TOKENS], NOW)] == [0.25, 15]


async def test_a_kill_between_the_copy_and_the_deletion_replays_nothing_twice(
    opened: Callable[..., DurableLimiter], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await opened()
    await spend(first, 10, 10, TOKENS)
    await spend(first, 0.5, 0.5)
    monkeypatch.setattr(first._charges, "covered", lambda number: None)  # killed right after COMMIT
    await first.flush()
    await kill(first)
    assert segments(tmp_path)  # left behind, covered by the mark written with the copy
    second = await opened()
    assert [u.used for u in await second.usage([COST, TOKENS], NOW)] == [0.5, 10]
    assert segments(tmp_path) == []  # covered segments are deleted on adoption
    await second.close()
    third = await opened()
    assert [u.used for u in await third.usage([COST, TOKENS], NOW)] == [0.5, 10]


async def test_a_live_limiters_journal_is_not_adopted(opened: Callable[..., DurableLimiter]) -> None:
    """Workers share the data directory: one starting never replays another's live journal."""
    first = await opened()
    await spend(first, 10, 10, TOKENS)
    second = await opened()
    assert [u.used for u in await second.usage([TOKENS], NOW)] == [0]
    await first.close()
    third = await opened()
    assert [u.used for u in await third.usage([TOKENS], NOW)] == [10]


async def test_a_clean_stop_leaves_no_journal(opened: Callable[..., DurableLimiter], tmp_path: Path) -> None:
    first = await opened()
    await spend(first, 10, 10, TOKENS)
    await first.close()
    assert list((tmp_path / "counters-journal").iterdir()) == []


async def test_expired_windows_are_neither_read_back_nor_kept(
    opened: Callable[..., DurableLimiter], clock: Clock, tmp_path: Path
) -> None:
    first = await opened()
    await spend(first, 30, 30, TOKENS)
    await spend(first, 0.5, 0.5)
    await first.close()
    clock.now = NOW + 900  # the sliding use (10 minutes) has expired; the hour has not ended
    second = await opened()
    assert [u.used for u in await second.usage([COST, TOKENS], clock.now)] == [0.5, 0]
    assert (await second.admit([Claim(REQUESTS, 1)], clock.now)).allowed  # something to write
    await second.close()
    with sqlite3.connect(tmp_path / "counters.db") as connection:
        assert connection.execute("SELECT count(*) FROM sliding_uses WHERE key = 'tokens'").fetchone() == (0,)


async def test_copies_are_written_periodically_off_the_request_path(tmp_path: Path, clock: Clock) -> None:
    limiter = DurableLimiter(tmp_path / "counters.db", clock, interval=0.05)
    await limiter.open()
    try:
        await spend(limiter, 0.5, 0.5)
        deadline = time.monotonic() + 5
        rows: list[tuple[str, float]] = []
        while not rows and time.monotonic() < deadline:  # polling the file, as an operator would
            with sqlite3.connect(tmp_path / "counters.db") as connection:
                rows = connection.execute("SELECT key, used FROM fixed_windows").fetchall()
            if not rows:
                await asyncio.sleep(0.01)
        assert rows == [("cost", 0.5)]
    finally:
        await limiter.close()


async def test_a_copy_that_failed_is_written_with_the_next(
    opened: Callable[..., DurableLimiter], tmp_path: Path
) -> None:
    first = await opened()
    await spend(first, 0.25, 0.25)
    await spend(first, 10, 10, TOKENS)
    with sqlite3.connect(tmp_path / "counters.db") as connection:  # another writer holds the lock
        connection.execute("PRAGMA busy_timeout=0")
        connection.execute("BEGIN IMMEDIATE")
        first._file._connection.execute("PRAGMA busy_timeout=0")  # type: ignore[union-attr]
        with pytest.raises(sqlite3.OperationalError):
            await first.flush()
        connection.execute("ROLLBACK")
    await spend(first, 0.25, 0.125)
    await first.close()
    second = await opened()
    assert [u.used for u in await second.usage([COST, TOKENS], NOW)] == [0.375, 10]


FIXED = Bucket("fixed requests", limit=100, period=60, sliding=False)


def fixed_rows(tmp_path: Path, key: str) -> int:
    with sqlite3.connect(tmp_path / "counters.db") as connection:
        [(count,)] = connection.execute("SELECT count(*) FROM fixed_windows WHERE key = ?", (key,))
        return int(count)


async def test_limiters_sharing_the_file_each_keep_their_count_over_a_restart(
    opened: Callable[..., DurableLimiter],
) -> None:
    """`serve --workers 2`: each worker counts on its own and copies to one file; the next start
    counts what both counted, not the last copy's figure alone."""
    first, second = await opened(), await opened()
    await spend(first, 0.5, 0.25)
    await spend(second, 0.5, 0.375)
    for _ in range(3):
        assert (await first.admit([Claim(FIXED, 1)], NOW)).allowed
    assert (await second.admit([Claim(FIXED, 1)], NOW)).allowed
    await first.close()
    await second.close()
    third = await opened()
    assert [u.used for u in await third.usage([COST, FIXED], NOW)] == [0.625, 4]


async def test_a_worker_restarted_beside_a_running_one_counts_both_and_nothing_twice(
    opened: Callable[..., DurableLimiter], tmp_path: Path
) -> None:
    first, second = await opened(), await opened()
    await spend(first, 0.25, 0.25)
    await spend(second, 0.125, 0.125)
    await second.flush()
    await first.close()
    restarted = await opened()  # beside `second`, still running
    assert [u.used for u in await restarted.usage([COST], NOW)] == [0.375]
    await spend(restarted, 0.0625, 0.0625)  # its own, beside the first's it took over
    await spend(second, 0.5, 0.5)  # after `restarted` read the file: not in its figure
    await restarted.close()
    await second.close()
    last = await opened()
    assert [u.used for u in await last.usage([COST], NOW)] == [0.9375]
    assert fixed_rows(tmp_path, "cost") == 1  # the rows of the processes gone are one now


async def test_kills_and_restarts_of_workers_together_count_each_charge_once(
    opened: Callable[..., DurableLimiter], tmp_path: Path
) -> None:
    first, second = await opened(), await opened()
    await spend(first, 0.25, 0.25)
    await first.flush()
    await spend(first, 0.125, 0.125)  # in the journal alone
    await spend(second, 0.5, 0.5)  # in the journal alone
    await kill(first)
    await kill(second)
    third, fourth = await opened(), await opened()  # started together: one adopts, one reads
    assert [u.used for u in await third.usage([COST], NOW)] == [0.875]
    assert [u.used for u in await fourth.usage([COST], NOW)] == [0.875]
    await spend(third, 0.0625, 0.0625)
    await spend(fourth, 0.03125, 0.03125)
    await kill(third)  # with what it adopted, never copied
    await fourth.close()
    fifth = await opened()
    assert [u.used for u in await fifth.usage([COST], NOW)] == [0.96875]
    await fifth.close()
    sixth = await opened()
    assert [u.used for u in await sixth.usage([COST], NOW)] == [0.96875]
    assert fixed_rows(tmp_path, "cost") == 1
    assert segments(tmp_path) == []


async def test_an_older_releases_file_and_journal_are_read_as_figures_and_then_summed(
    opened: Callable[..., DurableLimiter], tmp_path: Path
) -> None:
    """A file of one figure per window and a killed process's journal of whole figures, as an
    older release left them: read once, and what the new workers count is added to them."""
    window = NOW - 20
    with sqlite3.connect(tmp_path / "counters.db") as connection:
        connection.execute(
            "CREATE TABLE fixed_windows (key TEXT PRIMARY KEY, window REAL NOT NULL,"
            " used REAL NOT NULL, expires REAL NOT NULL)"
        )
        connection.execute("CREATE INDEX fixed_windows_expires ON fixed_windows (expires)")
        connection.execute("INSERT INTO fixed_windows VALUES ('cost', ?, 0.25, ?)", (window, window + 3600))
    journal = tmp_path / "counters-journal" / "killed"
    journal.mkdir(parents=True)
    (journal / "lock").touch()
    lines = [[["f", "cost", window, figure, window + 3600]] for figure in (0.375, 0.5)]
    (journal / "000000000001.log").write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    first, second = await opened(), await opened()
    assert [u.used for u in await first.usage([COST], NOW)] == [0.5]
    assert [u.used for u in await second.usage([COST], NOW)] == [0.5]
    await spend(first, 0.25, 0.25)
    await spend(second, 0.125, 0.125)
    await first.close()
    await second.close()
    third = await opened()
    assert [u.used for u in await third.usage([COST], NOW)] == [0.875]
