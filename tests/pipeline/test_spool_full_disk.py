"""A spool that cannot allocate a new segment (a nearly full disk) still has its stored segments
drained into the database, and says so once, as the spool's fault, not the database's; the records
it cannot take are kept in memory and counted in the backlog and, once dropped, in dropped_records.

The allocation failure is real: the log writer runs in a process whose files may not grow past
1 MiB (RLIMIT_FSIZE), so `posix_fallocate` of a 4 MiB segment fails with EFBIG
(`full_disk_child.py`)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sluicegate.logbook import Logbook
from sluicegate.outcome import NO_OUTCOME
from sluicegate.spool import Spool
from tests.pipeline.test_log import exchange, summary
from tests.pipeline.test_spool import FailingSink

SPOOLED = 300
SUBMITTED = 5  # after the restart, of which the child keeps 3 in memory


async def spooled_while_the_database_is_down(data: Path) -> list[str]:
    """A first run: records on disk in the spool while the database is down, then a stop. Their ids."""
    spool = Spool(data / "spool", 1 << 30)
    logbook = Logbook(FailingSink(), summary, batch_size=100, interval=60, spool=spool, cheap=lambda _: True)
    logbook.start()
    spooled = [exchange() for _ in range(SPOOLED)]
    for item in spooled:
        logbook.submit(item, NO_OUTCOME)
    with pytest.raises(ConnectionError):
        await logbook.flush()
    await logbook.close()
    return [item.request.id for item in spooled]


def run_child(data: Path, submitted: int) -> tuple[dict[str, Any], str]:
    child = subprocess.run(
        [sys.executable, "-m", "tests.pipeline.full_disk_child", str(data), str(submitted)],
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    seen: dict[str, Any] = json.loads(child.stdout)
    return seen, child.stderr


def assert_one_spool_error(stderr: str) -> None:
    """One error for the spool's outage, naming the cause; nothing blames the database."""
    errors = [line for line in stderr.splitlines() if "log spool cannot be written" in line]
    assert len(errors) == 1, stderr
    assert "File too large" in errors[0]
    assert "database failed" not in stderr
    assert "Traceback" not in stderr, stderr  # what the disk said is the whole story


def test_stored_segments_drain_when_no_new_segment_can_be_allocated(tmp_path: Path) -> None:
    spooled = asyncio.run(spooled_while_the_database_is_down(tmp_path))
    assert list((tmp_path / "spool").rglob("*.ndjson"))
    seen, stderr = run_child(tmp_path, 0)
    assert sorted(seen["stored"]) == sorted(spooled)  # every record of the old segments
    assert seen["left"] == []
    assert_one_spool_error(stderr)


def test_records_the_spool_cannot_take_are_in_the_status_figures(tmp_path: Path) -> None:
    spooled = asyncio.run(spooled_while_the_database_is_down(tmp_path))
    seen, stderr = run_child(tmp_path, SUBMITTED)
    before, after = seen["before"]["log_spool"], seen["after"]["log_spool"]

    # Before the flush: the spool's records and the three kept in memory make the backlog; the two
    # dropped from memory are counted; the spool, not the database, is failing.
    assert before["backlog_records"] == SPOOLED + 3
    assert before["memory_records"] == 3
    assert before["dropped_records"] == before["dropped_from_memory"] == 2
    assert before["spool_failing_since"] is not None
    assert before["failing_since"] is None
    assert before["behind"] is False

    # The flush stored the old segments' records and the ones kept in memory (the newest three).
    assert sorted(seen["stored"]) == sorted(spooled + seen["new"][2:])
    assert after["backlog_records"] == after["memory_records"] == 0
    assert after["failing_since"] is None
    assert after["spool_failing_since"] is not None  # segments still cannot be allocated
    assert_one_spool_error(stderr)
