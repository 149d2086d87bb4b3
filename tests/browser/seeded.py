"""Log records written straight into a running gateway's database: many at once, or with what no
quick request makes (shadow checks, semantic verdicts, a cost of $0.00000002)."""

from __future__ import annotations

import asyncio
import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sluicegate.storage.base import LogRecord
from sluicegate.storage.sqlite import SqliteDatabase
from tests.conftest import RunningGateway

_serial = itertools.count(1)


def record(ts: float | None = None, **fields: Any) -> LogRecord:
    """A 200 of chat/completions on the default gateway, at `ts` (now by default)."""
    ts = time.time() if ts is None else ts
    values: dict[str, Any] = {
        "id": f"{int(ts * 1000):012x}{next(_serial):020x}",  # the gateway's ids: time first, 32 hex
        "ts": ts, "account": "local", "gateway": "default", "provider": "openai",
        "endpoint": "chat/completions", "method": "POST", "model": "gpt-4o-mini", "stream": False,
        "status": 200, "latency_ms": 120.0, "ttfb_ms": 80.0, "tokens_in": 10, "tokens_out": 5,
        "cost_usd": 0.0001,
    }  # fmt: skip
    return LogRecord(**{**values, **fields})


def write(gateway: RunningGateway, records: list[LogRecord]) -> None:
    async def go() -> None:
        database = SqliteDatabase(gateway.settings.data_dir / "sluicegate.db")
        await database.open()
        await database.write_logs(records)
        await database.close()

    # Playwright's sync API keeps an event loop running in this thread: write from another one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(go())).result()
