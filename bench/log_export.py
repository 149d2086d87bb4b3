"""Time log export, import, the feedback summary and OTLP log records on a SQLite database:

    python -m bench.log_export [--records 50000] [--annotated 0.01]

Records carry ~1 KB request and response bodies. `export` streams a gateway's records over HTTP
from a gateway served on loopback (records/s and MB/s as a client reads them); `import` stores the
exported lines into a fresh database; `summary` is the analytics feedback query over a day of
records, with the partial index and (for comparison) with a full scan of the range; `otlp` is the
cost of turning records into OTel log records and posting them to a collector on loopback. The
machine's load moves wall times a lot; CPU times less.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from pathlib import Path

import httpx2 as httpx
from aiohttp import web
from tests.fakes.server_thread import ServerThread

from sluicegate.analytics import AnalyticsQuery, FeedbackSummary
from sluicegate.app import create_app
from sluicegate.config import load_settings
from sluicegate.logtransfer import import_records
from sluicegate.otlp_logs import OtlpLogs
from sluicegate.storage.base import LogRecord
from sluicegate.storage.sqlite import SqliteDatabase
from sluicegate.storage.sqlite_analytics import _feedback

TOKEN = "sg_bench-admin-token-0123456789abcdef"
T0 = float(int(time.time()) - 3 * 86_400)  # a day of records that ended two days ago
BODY = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "' + b"x" * 900 + b'"}]}'


def records(count: int, annotated: float) -> list[LogRecord]:
    rng = random.Random(5)
    made = []
    for n in range(count):
        ts = T0 + n * 86_400 / count
        rated = rng.random() < annotated
        made.append(
            LogRecord(
                id=f"{int(ts * 1000):012x}{n:020x}", ts=ts, account="local", gateway="default",
                provider="openai", endpoint="chat/completions", method="POST", model="gpt-4o-mini",
                stream=False, status=200, latency_ms=rng.uniform(50, 900), ttfb_ms=40.0, tokens_in=230,
                tokens_out=40, cost_usd=0.0001, metadata={"user": f"u{n % 97}"},
                request_headers={"content-type": "application/json"}, request_body=BODY, response_body=BODY,
                feedback=rng.choice([-1, 0, 1]) if rated else None,
                score=rng.uniform(0, 100) if rated else None,
            )
        )  # fmt: skip
    return made


async def fill(path: Path, batch: list[LogRecord]) -> None:
    database = SqliteDatabase(path)
    await database.open()
    for start in range(0, len(batch), 1000):
        await database.write_logs(batch[start : start + 1000])
    await database.close()


def export(data_dir: Path) -> list[bytes]:
    settings = load_settings(environ={}, data_dir=data_dir, admin_token=TOKEN)
    with ServerThread(create_app(settings)) as server:
        started = time.perf_counter()
        size = 0
        lines = []
        with httpx.stream(
            "GET", f"{server.url}/api/v1/accounts/local/gateways/default/logs/export",
            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60,
        ) as response:  # fmt: skip
            for line in response.iter_lines():
                lines.append(line.encode())
                size += len(line) + 1
        elapsed = time.perf_counter() - started
    rate = f"{len(lines) / elapsed:9,.0f} records/s  {size / elapsed / 1e6:6.1f} MB/s"
    print(f"export  {rate}  ({len(lines):,} records)")
    return lines


async def import_lines(path: Path, lines: list[bytes]) -> None:
    database = SqliteDatabase(path)
    await database.open()
    started = time.perf_counter()
    read = await import_records(database, lines)
    elapsed = time.perf_counter() - started
    await database.close()
    print(f"import  {read / elapsed:9,.0f} records/s")


async def summary(path: Path) -> None:
    database = SqliteDatabase(path)
    await database.open()
    connection = database._db()
    query = AnalyticsQuery(account="local", since=T0, until=T0 + 86_400, interval="hour")
    for name, sql_index in (("partial index", None), ("full scan", "DROP INDEX logs_annotated")):
        if sql_index:
            connection.execute(sql_index)
            run = _scan_summary
        else:
            run = _feedback
        started = time.perf_counter()
        result = run(connection, query)
        elapsed = time.perf_counter() - started
        rated = result.positive + result.negative + result.neutral
        print(f"summary {elapsed * 1000:9.1f} ms  ({name}; {rated} rated)")
    await database.close()


def _scan_summary(connection: sqlite3.Connection, query: AnalyticsQuery) -> FeedbackSummary:
    """The same figures read by scanning the range (what the query costs without the index)."""
    row = connection.execute(
        "SELECT coalesce(sum(feedback = -1), 0), coalesce(sum(feedback = 0), 0),"
        " coalesce(sum(feedback = 1), 0), count(score), avg(score)"
        " FROM logs WHERE account = ? AND ts >= ? AND ts < ?",
        (query.account, query.since, query.until),
    ).fetchone()
    return FeedbackSummary(negative=row[0], neutral=row[1], positive=row[2], scored=row[3], mean_score=row[4])


def otlp(batch: list[LogRecord]) -> None:
    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(content_type="application/x-protobuf")

    collector = web.Application()
    collector.router.add_post("/v1/logs", accept)
    with ServerThread(collector) as server:
        sink = OtlpLogs(server.url)
        sample = batch[:2000]  # within the processor's queue
        started, cpu = time.perf_counter(), time.process_time()
        sink._emit(sample)  # what `written` runs on a worker thread
        made = time.perf_counter() - started
        asyncio.run(sink.close())  # exports everything queued
        sent, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"otlp    {made / len(sample) * 1e6:9.1f} us per record made (worker thread, wall)")
    print(f"otlp    {sent / len(sample) * 1e6:9.1f} us per record made, encoded and posted (wall)")
    print(f"otlp    {cpu / len(sample) * 1e6:9.1f} us of CPU per record, all threads (collector included)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--annotated", type=float, default=0.01)
    args = parser.parse_args()
    batch = records(args.records, args.annotated)
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        asyncio.run(fill(data / "sluicegate.db", batch))
        lines = export(data)
        asyncio.run(import_lines(Path(folder) / "fresh" / "sluicegate.db", lines))
        asyncio.run(summary(data / "sluicegate.db"))
    otlp(batch)


if __name__ == "__main__":
    main()
