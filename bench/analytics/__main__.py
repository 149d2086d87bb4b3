"""``python -m bench.analytics``: time analytics queries over N log rows (see bench/analytics/__init__)."""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sluicegate.analytics import AnalyticsQuery, AnalyticsResult, Interval, choose_interval
from sluicegate.storage.base import LogRecord
from sluicegate.storage.sqlite import SqliteDatabase

TARGET_MS = 200.0
END = 1_800_000_000.0  # a fixed "now", so runs are comparable
COMBOS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-haiku-4-5"),
    ("workers-ai", "@cf/meta/llama-3.1-8b-instruct"),
    ("google-ai-studio", "gemini-2.5-flash"),
]
GATEWAYS = ["default", "prod", "staging"]
HEADERS = {
    "content-type": "application/json",
    "user-agent": "OpenAI/Python 2.8.1",
    "authorization": "[redacted]",
}
REQUEST = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"' + b"lorem ipsum " * 20 + b'"}]}'
RESPONSE = b'{"id":"chatcmpl-1","choices":[{"message":{"content":"' + b"dolor sit amet " * 30 + b'"}}]}'


@dataclass(frozen=True)
class Case:
    name: str
    hours_back: float  # from END - hours_back to END
    interval: Interval | None = None
    provider: str | None = None
    model: str | None = None
    gateway: str | None = None
    ragged: bool = False  # move both ends off the minute, so the logs table answers the ends

    def query(self) -> AnalyticsQuery:
        since, until = END - self.hours_back * 3600, END
        if self.ragged:
            since, until = since + 17.25, until - 42.5
        return AnalyticsQuery(
            account="local",
            since=since,
            until=until,
            interval=self.interval or choose_interval(since, until),
            gateways=(self.gateway,) if self.gateway else None,
            provider=self.provider,
            model=self.model,
        )


CASES = [
    Case("last hour", 1),
    Case("last 6 h", 6),
    Case("last 24 h", 24),
    Case("last 7 days (all rows)", 7 * 24),
    Case("last 7 days, ragged ends", 7 * 24, ragged=True),
    Case("last 7 days, one provider + model", 7 * 24, provider="openai", model="gpt-4o-mini"),
    Case("last 7 days, one gateway", 7 * 24, gateway="prod"),
    Case("last 7 days by day", 7 * 24, interval="day"),
    Case("last 30 days", 30 * 24),
    Case("last 12 h by minute (720 points)", 12, interval="minute"),
]


def records(indices: range, total: int, days: float) -> list[LogRecord]:
    """Records number `indices` of `total` plausible ones spread evenly over the `days` before END."""
    rnd = random.Random(indices.start)
    start, out = END - days * 86400, []
    for i in indices:
        ts = start + (END - start) * (i + rnd.random()) / total
        provider, model = COMBOS[rnd.randrange(len(COMBOS))]
        roll = rnd.random()
        status = 200 if roll < 0.93 else 429 if roll < 0.96 else 400 if roll < 0.98 else 503
        cache = rnd.choices(["HIT", "MISS", ""], weights=[2, 5, 3])[0]
        ok = status == 200
        latency = rnd.uniform(0.3, 3.0) if cache == "HIT" else rnd.lognormvariate(6.5, 0.6)
        out.append(
            LogRecord(
                id=f"{int(ts * 1000):013x}{i:012x}", ts=ts, account="local",
                gateway=GATEWAYS[rnd.randrange(len(GATEWAYS))], provider=provider,
                endpoint="chat/completions", method="POST", model=model, stream=rnd.random() < 0.3,
                status=status, latency_ms=latency, ttfb_ms=latency * 0.3,
                tokens_in=rnd.randint(20, 2000) if ok else None,
                tokens_out=rnd.randint(5, 800) if ok else None,
                cost_usd=rnd.uniform(1e-5, 1e-2) if ok and cache != "HIT" else None, cache_status=cache,
                cache_saved_ms=rnd.lognormvariate(6.5, 0.6) if cache == "HIT" else None,
                rate_limited=status == 429 and rnd.random() < 0.5, request_headers=HEADERS,
                request_body=REQUEST, response_body=RESPONSE if ok else None,
            )
        )  # fmt: skip
    return out


async def fill(database: SqliteDatabase, count: int, days: float, batch: int, console: Console) -> float:
    """Write `count` records in batches of `batch`; returns records written per second."""
    written, seconds, chunk = 0, 0.0, 50_000
    for offset in range(0, count, chunk):
        generated = records(range(offset, min(offset + chunk, count)), count, days)
        started = time.perf_counter()
        for i in range(0, len(generated), batch):
            await database.write_logs(generated[i : i + batch])
        seconds += time.perf_counter() - started
        written += len(generated)
        console.print(f"  {written:,} rows written", highlight=False, end="\r")
    console.print()
    return written / seconds


def check(result: AnalyticsResult) -> str | None:
    """None when the totals are the sum of the series, else what does not add up."""
    for name in ("requests", "errors_4xx", "errors_5xx", "tokens_in", "tokens_out", "cache_hits"):
        total, series = getattr(result.totals, name), sum(getattr(p, name) for p in result.series)
        if total != series:
            return f"{name}: total {total} != series {series}"
    return None


async def run(args: argparse.Namespace, console: Console) -> int:
    with tempfile.TemporaryDirectory(prefix="sluicegate-bench-analytics-") as tmp:
        path = args.database or Path(tmp) / "bench.db"
        database = SqliteDatabase(path)
        await database.open()
        if not hasattr(database, "analytics"):
            console.print(
                "[red]SqliteDatabase has no analytics method: see storage/sqlite_analytics.py[/red]"
            )
            return 2
        try:
            console.print(f"writing {args.rows:,} log rows over {args.days:g} days into {path}")
            rate = await fill(database, args.rows, args.days, args.batch, console)
            console.print(f"write_logs: {rate:,.0f} rows/s (batches of {args.batch}, rolling up included)")
            since = END - (args.days + 1) * 86400
            everything = AnalyticsQuery(account="local", since=since, until=END + 1, interval="day")
            counted = (await database.analytics(everything)).totals.requests
            if counted != args.rows:
                console.print(
                    f"[red]analytics counts {counted:,} of {args.rows:,} rows: is roll_up wired?[/red]"
                )
                return 2
            return await measure(database, args.repeat, console)
        finally:
            await database.close()


async def measure(database: SqliteDatabase, repeat: int, console: Console) -> int:
    table = Table(title=f"analytics queries (median of {repeat}; target ≤ {TARGET_MS:g} ms)")
    for column in ("query", "interval", "points", "requests", "p50 ms", "max ms", "met"):
        table.add_column(column, justify="left" if column == "query" else "right")
    failed = 0
    for case in CASES:
        query, timings = case.query(), []
        result = None
        for _ in range(repeat):
            started = time.perf_counter()
            result = await database.analytics(query)
            timings.append((time.perf_counter() - started) * 1000)
        assert result is not None
        problem = check(result)
        median = statistics.median(timings)
        met = median <= TARGET_MS and problem is None
        failed += not met
        table.add_row(
            case.name, query.interval, str(len(result.series)), f"{result.totals.requests:,}",
            f"{median:.1f}", f"{max(timings):.1f}", "yes" if met else f"[red]NO {problem or ''}[/red]",
        )  # fmt: skip
    console.print(table)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.analytics", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="log rows to write (default 1,000,000)")
    parser.add_argument("--days", type=float, default=7.0, help="days the rows span (default 7)")
    parser.add_argument("--batch", type=int, default=500, help="rows per write_logs call (default 500)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each query (default 5)")
    parser.add_argument("--database", type=Path, help="write here instead of a temporary file (kept)")
    args = parser.parse_args(argv)
    return asyncio.run(run(args, Console(width=120)))


if __name__ == "__main__":
    sys.exit(main())
