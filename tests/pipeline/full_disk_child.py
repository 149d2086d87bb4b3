"""Run as a process of its own by test_spool_full_disk.py: a gateway's log writer restarted on the
spool the test left, where no file may grow past 1 MiB (RLIMIT_FSIZE), so every new 4 MiB spool
segment fails in `posix_fallocate` (EFBIG), as on a nearly full disk. Prints what it saw as JSON.

usage: python -m tests.pipeline.full_disk_child <data directory> <records to submit>
(with none, it only drains what is there and reports no status figures)
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sqlite3
import sys
from pathlib import Path

from sluicegate.logbook import Logbook
from sluicegate.outcome import NO_OUTCOME
from sluicegate.spool import Spool
from sluicegate.storage.sqlite import SqliteDatabase
from tests.pipeline.test_log import exchange, summary

FILE_LIMIT = 1 << 20  # under a spool segment's 4 MiB, over what the database file needs here
MEMORY_LIMIT = 3  # records kept in memory, so that the test sees some dropped


async def main(data: Path, submitted: int) -> None:
    database = SqliteDatabase(data / "sluicegate.db")
    await database.open()  # created before the limit
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit: EFBIG, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    spool = Spool(data / "spool", 1 << 30)
    logbook = Logbook(database, summary, batch_size=100, interval=60, spool=spool, cheap=lambda _: True)
    if submitted:
        from sluicegate.unspooled import Unspooled

        logbook.unspooled = Unspooled(limit=MEMORY_LIMIT)
    logbook.start()  # adopts the segments the test's process left
    new = [exchange() for _ in range(submitted)]
    for item in new:
        logbook.submit(item, NO_OUTCOME)  # the spool cannot start a segment for them
    before = status(logbook, spool) if submitted else None
    await logbook.flush()
    after = status(logbook, spool) if submitted else None
    await logbook.close()
    await database.close()
    with sqlite3.connect(data / "sluicegate.db") as connection:
        stored = [row[0] for row in connection.execute("SELECT id FROM logs")]
    left = sorted(path.name for path in (data / "spool").rglob("*.ndjson"))
    new_ids = [item.request.id for item in new]
    print(json.dumps({"before": before, "after": after, "stored": stored, "new": new_ids, "left": left}))


def status(logbook: Logbook, spool: Spool) -> dict[str, object]:
    from sluicegate.endpoints.status import replica_status

    return replica_status(logbook, spool.max_bytes, []).model_dump()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
