"""Analytics on SQLite: rollup tables kept in step with `logs`, read with two aggregate statements.

Why rollups: SQLite has no hash aggregation and `logs` rows are wide (headers, bodies), so over
1 M log rows even an index-only count takes ~250 ms here and the aggregates ~7 s. Instead each
batch of log records is also summed, in the same transaction, into two small tables at three
widths (minute, hour, day):

    analytics_rollup (account, width, start, gateway, provider, model) → the counters of
                     `analytics.Counters`, and the fastest and slowest origin latency
    latency_rollup   (account, width, start, bin, gateway, provider, model) → n: a log-scale
                     histogram of origin latency, bin = ⌊20·ln(100·ms)⌋, so a bin spans 5.1%

`roll_up` does it with one `WITH … INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE` per table
over the rows the batch added (rowid above the mark taken before the insert), so every figure is
defined once, in SQL, and a duplicate the insert ignored is not counted. Each new row is read once
and summed per minute; the minute sums are summed again per width (sums, minima and maxima
compose). Summing a batch in SQL costs about a third of what a per-row trigger does; reading each
row once instead of once per width took the roll-up from ~31 to ~20 µs per logged record, which
is what the same sums taken in Python per batch cost too (measured, and not kept: it needed a
second definition of every figure).

A range `[since, until)` at interval W is cut into pieces (`rollup_bins.cover`): whole rollup rows of the
widest width ≤ W, the ragged ends from narrower widths, and what is left under a minute from `logs`
itself, so the figures are exact to the record (the sub-minute ends follow log retention; the
rollups outlive it). Rows of width W are grouped in primary-key order (no sort). Percentiles are
read off the merged histogram with window functions — a cumulative count per bucket, the first bin
that reaches p·n — and reported at the bin's geometric middle: within ±2.6% of the exact
nearest-rank value, and clamped to the bucket's fastest and slowest request. Exact percentiles
would need every latency of the range sorted (~1 s over 1 M rows here).

`install` creates the tables, filled from the logs already there; run it after the migrations at
every open. Nothing here opens a connection or keeps state.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sluicegate.analytics import (
    COUNTERS,
    MAX_GROUPS,
    AnalyticsQuery,
    AnalyticsResult,
    FeedbackSummary,
    GuardrailsSummary,
    Latency,
    build_result,
    summarise_guardrails,
)
from sluicegate.storage.rollup_bins import BINS_PER_E, SEMANTIC_HIT_COLUMN, WIDTHS, cover, ranks

# Records given feedback or a score: few, so a partial index on this finds them for the summary.
# A query uses that index only when its WHERE holds this very term.
ANNOTATED = "(feedback IS NOT NULL OR score IS NOT NULL)"
# Records the guardrails found something in, likewise found by a partial index (`logs_guarded`).
GUARDED = "json_extract(metadata, '$.guardrails')"
# Whether an upstream answered the request (`LogRecord.upstream_status`), which origin latency counts:
# not a cache hit, nor the gateway's own refusal (a token missing, an unknown provider, a guardrail,
# a rate limit), nor a try that got no answer. Records stored before the column say NULL.
ORIGIN = "upstream_status IS NOT NULL"
# What was counted before records said so, for a `logs` without the column (a schema opened before
# its last migrations, as the tests of upgrades do): all but cache hits and rate-limited requests.
_ORIGIN_BEFORE = "cache_status != 'HIT' AND NOT rate_limited"
_DIMENSIONS = ("account", "width", "start", "gateway", "provider", "model")
_HISTOGRAM = ("account", "width", "start", "bin", "gateway", "provider", "model")
_AGGREGATES = {name: "sum" for name in COUNTERS} | {"origin_min_ms": "min", "origin_max_ms": "max"}
_TYPES = {
    "cost_usd": "REAL NOT NULL",
    "time_saved_ms": "REAL NOT NULL",
    "origin_min_ms": "REAL",
    "origin_max_ms": "REAL",
}

_TABLES = [
    f"""CREATE TABLE analytics_rollup (
        account TEXT NOT NULL, width INTEGER NOT NULL, start INTEGER NOT NULL,
        gateway TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
        {", ".join(f"{name} {_TYPES.get(name, 'INTEGER NOT NULL')}" for name in _AGGREGATES)},
        PRIMARY KEY ({", ".join(_DIMENSIONS)})
    ) WITHOUT ROWID""",
    f"""CREATE TABLE latency_rollup (
        account TEXT NOT NULL, width INTEGER NOT NULL, start INTEGER NOT NULL, bin INTEGER NOT NULL,
        gateway TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, n INTEGER NOT NULL,
        PRIMARY KEY ({", ".join(_HISTOGRAM)})
    ) WITHOUT ROWID""",
]


def _expressions(semantic: bool, origin: str) -> dict[str, str]:
    """Each rollup value of one `logs` row, before aggregation (see `_AGGREGATES`)."""
    semantic_hit = f"coalesce({SEMANTIC_HIT_COLUMN}, 0)" if semantic else "0"
    # A semantic hit is logged HIT (before: MISS after an exact miss): counted once, as semantic.
    exact_only = f" AND NOT {semantic_hit}" if semantic else ""
    origin_ms = f"CASE WHEN {origin} THEN latency_ms END"
    return {
        "requests": "1",
        "errors_4xx": "status BETWEEN 400 AND 499",
        "errors_5xx": "status >= 500",
        "tokens_in": "coalesce(tokens_in, 0)",
        "tokens_out": "coalesce(tokens_out, 0)",
        "cost_usd": "coalesce(cost_usd, 0.0)",
        "cache_hits": f"cache_status = 'HIT'{exact_only}",
        "semantic_hits": semantic_hit,
        "cache_misses": f"cache_status = 'MISS'{exact_only}",
        "tokens_from_cache": f"CASE WHEN cache_status = 'HIT' OR {semantic_hit}"
        " THEN coalesce(tokens_in, 0) + coalesce(tokens_out, 0) ELSE 0 END",
        "time_saved_ms": "coalesce(cache_saved_ms, 0.0)",
        "rate_limited": "rate_limited",
        "origin_min_ms": origin_ms,
        "origin_max_ms": origin_ms,
    }


_BIN = f"CAST(ln(max(latency_ms, 0.01) * 100) * {BINS_PER_E} AS INTEGER)"


def _aggregated(values: Mapping[str, str]) -> str:
    return ", ".join(f"{_AGGREGATES[name]}({values[name]}) AS {name}" for name in _AGGREGATES)


def _roll_up_statements(semantic: bool, origin: str) -> list[str]:
    """Sum the `logs` rows whose rowid is above `?` into both rollup tables, at every width.

    Each row is read once and summed per minute (the narrowest width); the minute sums are summed
    again per width.
    """
    minute = WIDTHS[-1]
    widths = f"(VALUES {', '.join(f'({width})' for width in WIDTHS)}) AS w"
    start = f"CAST(ts / {minute} AS INTEGER) * {minute}"
    per_width = "account, w.column1, start / w.column1 * w.column1"  # integer division
    labels = "gateway, provider, coalesce(model, '') AS model"
    merge = [f"{name} = {name} + excluded.{name}" for name in COUNTERS] + [
        f"{name} = coalesce({fn}({name}, excluded.{name}), {name}, excluded.{name})"
        for name, fn in _AGGREGATES.items()
        if fn != "sum"
    ]
    resummed = ", ".join(f"{fn}({name})" for name, fn in _AGGREGATES.items())
    values = _aggregated(_expressions(semantic, origin))
    return [
        f"WITH minutes AS (SELECT account, {start} AS start, {labels}, {values}"
        f" FROM logs WHERE rowid > ? GROUP BY 1, 2, 3, 4, 5)"
        f" INSERT INTO analytics_rollup ({', '.join((*_DIMENSIONS, *_AGGREGATES))})"
        f" SELECT {per_width}, gateway, provider, model, {resummed} FROM minutes, {widths}"
        f" WHERE true GROUP BY 1, 2, 3, 4, 5, 6"
        f" ON CONFLICT ({', '.join(_DIMENSIONS)}) DO UPDATE SET {', '.join(merge)}",
        f"WITH minutes AS (SELECT account, {start} AS start, {_BIN} AS bin, {labels}, count(*) AS n"
        f" FROM logs WHERE rowid > ? AND {origin} GROUP BY 1, 2, 3, 4, 5, 6)"
        f" INSERT INTO latency_rollup ({', '.join((*_HISTOGRAM, 'n'))})"
        f" SELECT {per_width}, bin, gateway, provider, model, sum(n) FROM minutes, {widths}"
        f" WHERE true GROUP BY 1, 2, 3, 4, 5, 6, 7"
        f" ON CONFLICT ({', '.join(_HISTOGRAM)}) DO UPDATE SET n = n + excluded.n",
    ]


def install(connection: sqlite3.Connection) -> None:
    """Create the rollup tables, filled from the logs already there. Idempotent; run at every open."""
    _ensure_ln(connection)
    connection.execute("BEGIN IMMEDIATE")
    try:
        exists = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'analytics_rollup'"
        ).fetchone()
        if not exists:
            for statement in _TABLES:
                connection.execute(statement)
            roll_up(connection, after_rowid=0)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def last_log_rowid(connection: sqlite3.Connection) -> int:
    """The mark to take, inside the transaction, before inserting a batch of log records."""
    return int(connection.execute("SELECT coalesce(max(rowid), 0) FROM logs").fetchone()[0])


def roll_up(connection: sqlite3.Connection, after_rowid: int) -> None:
    """Add the log rows inserted since the mark to the rollups (in the same transaction)."""
    for statement in _roll_up_statements(*_schema(connection)):
        connection.execute(statement, (after_rowid,))


def _ensure_ln(connection: sqlite3.Connection) -> None:
    """SQLite builds without the math functions get `ln` from Python (slower, same bins)."""
    try:
        connection.execute("SELECT ln(1)")
    except sqlite3.OperationalError:
        connection.create_function("ln", 1, math.log, deterministic=True)


def _schema(connection: sqlite3.Connection) -> tuple[bool, str]:
    """Whether `logs` has the semantic cache's column, and which of its rows origin latency counts."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(logs)")}
    return SEMANTIC_HIT_COLUMN in columns, ORIGIN if "upstream_status" in columns else _ORIGIN_BEFORE


def analytics(connection: sqlite3.Connection, query: AnalyticsQuery) -> AnalyticsResult:
    """The query's totals and series, computed in SQLite from the rollups (and `logs` at the ends)."""
    _ensure_ln(connection)
    pieces = cover(query.since, query.until, [w for w in WIDTHS if w <= query.step])
    if not pieces:
        return build_result(query, {}, {}, Latency())
    ranges = _Ranges(query, pieces, *_schema(connection))
    counters, bounds = _counters(connection, ranges)
    latency, total = _percentiles(connection, ranges, bounds)
    return build_result(
        query,
        counters,
        latency,
        total,
        _seen(connection, query),
        _feedback(connection, query),
        _guardrails(connection, query),
        _groups(connection, query),
    )


@dataclass(frozen=True, slots=True)
class _Ranges:
    """A query cut into pieces, read as one UNION ALL of per-piece groups keyed by bucket."""

    query: AnalyticsQuery
    pieces: list[tuple[int, float, float]]
    semantic: bool
    origin: str  # the records whose latency is counted (`ORIGIN`)

    def union(
        self, table: str, rolled: str, raw: str, key: tuple[str, str] = ("", "")
    ) -> tuple[str, list[Any]]:
        """Per piece, rows (bucket[, key], values…): `rolled` over `table`, or `raw` over `logs`.

        `key` is an extra grouping column: its name in `table` and its expression over `logs`.
        """
        query, step = self.query, self.query.step
        filters, filter_args = _filters(query)
        rolled_key, raw_key = (f", {key[0]}", f", {key[1]} AS {key[0]}") if key[0] else ("", "")
        selects: list[str] = []
        args: list[Any] = []
        for width, start, end in self.pieces:
            if not width:
                where = f" AND {self.origin}" if key[0] else ""
                selects.append(
                    f"SELECT CAST(ts / {step} AS INTEGER) * {step} AS bucket{raw_key}, {raw} FROM logs"
                    f" WHERE account = ? AND ts >= ? AND ts < ?{filters}{where} GROUP BY bucket{rolled_key}"
                )
                args += [query.account, start, end, *filter_args]
                continue
            # Grouping by the bare `start` follows the primary key: SQLite streams it, no sort.
            bucket = "start" if width == step else f"CAST(start / {step} AS INTEGER) * {step}"
            selects.append(
                f"SELECT {bucket} AS bucket{rolled_key}, {rolled} FROM {table}"
                f" WHERE account = ? AND width = ? AND start >= ? AND start < ?{filters}"
                f" GROUP BY {bucket}{rolled_key}"
            )
            args += [query.account, width, int(start), int(end), *filter_args]
        return " UNION ALL ".join(selects), args


def _seen(connection: sqlite3.Connection, query: AnalyticsQuery) -> tuple[list[str], list[str]]:
    """The providers and models of the range's days (day rows: a few hundred at most)."""
    filters, args = _filters(query.model_copy(update={"provider": None, "model": None}))
    day = WIDTHS[0]
    rows = connection.execute(
        "SELECT DISTINCT provider, model FROM analytics_rollup"
        f" WHERE account = ? AND width = ? AND start >= ? AND start < ?{filters}",
        [query.account, day, math.floor(query.since / day) * day, query.until, *args],
    ).fetchall()
    return sorted({provider for provider, _ in rows}), sorted({model for _, model in rows if model})


def _feedback(connection: sqlite3.Connection, query: AnalyticsQuery) -> FeedbackSummary:
    """The range's feedback, from the annotated records themselves (see `FeedbackSummary`)."""
    filters, args = _filters(query)
    row = connection.execute(
        "SELECT coalesce(sum(feedback = -1), 0), coalesce(sum(feedback = 0), 0),"
        " coalesce(sum(feedback = 1), 0), count(score), avg(score) FROM logs"
        f" INDEXED BY logs_annotated WHERE account = ? AND ts >= ? AND ts < ? AND {ANNOTATED}{filters}",
        [query.account, query.since, query.until, *args],
    ).fetchone()
    return FeedbackSummary(negative=row[0], neutral=row[1], positive=row[2], scored=row[3], mean_score=row[4])


def _guardrails(connection: sqlite3.Connection, query: AnalyticsQuery) -> GuardrailsSummary:
    """The range's guardrail findings, grouped by the records' findings text in the database."""
    filters, args = _filters(query)
    rows = connection.execute(
        f"SELECT {GUARDED}, count(*) FROM logs INDEXED BY logs_guarded"
        f" WHERE account = ? AND ts >= ? AND ts < ? AND {GUARDED} IS NOT NULL{filters} GROUP BY 1",
        [query.account, query.since, query.until, *args],
    ).fetchall()
    return summarise_guardrails((str(value), count) for value, count in rows)


# A route's name from the record's `metadata.route` (`name@version`), and the target that answered.
_ROUTE = "CAST(json_extract(metadata, '$.route') AS TEXT)"
_GROUP_KEYS = {
    "route": f"substr({_ROUTE}, 1, instr({_ROUTE} || '@', '@') - 1)",
    "target": "provider || '/' || model",
}


def _groups(connection: sqlite3.Connection, query: AnalyticsQuery) -> list[tuple[Any, ...]]:
    """Each route's or target's figures (`Group`), from the routed records of the range."""
    if query.by is None:
        return []
    filters, args = _filters(query)
    return connection.execute(
        f"SELECT {_GROUP_KEYS[query.by]} AS key, count(*), coalesce(sum(status BETWEEN 400 AND 499), 0),"
        " coalesce(sum(status >= 500), 0), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0),"
        " coalesce(sum(cost_usd), 0.0), avg(latency_ms) FROM logs INDEXED BY logs_account_ts"
        f" WHERE account = ? AND ts >= ? AND ts < ? AND {_ROUTE} IS NOT NULL{filters}"
        f" GROUP BY key HAVING key IS NOT NULL ORDER BY 2 DESC, 1 LIMIT {MAX_GROUPS}",
        [query.account, query.since, query.until, *args],
    ).fetchall()


def _filters(query: AnalyticsQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if query.gateways is not None:
        clauses.append(f"gateway IN ({', '.join('?' * len(query.gateways))})")
        args.extend(query.gateways)
    for column, value in (("provider", query.provider), ("model", query.model)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    return "".join(f" AND {clause}" for clause in clauses), args


def _counters(
    connection: sqlite3.Connection, ranges: _Ranges
) -> tuple[dict[int, dict[str, float]], dict[int | None, tuple[float, float]]]:
    """Counters per bucket, and each bucket's (and the whole range's, key None) origin latency bounds."""
    columns = _aggregated({name: name for name in _AGGREGATES})
    union, args = ranges.union(
        "analytics_rollup", columns, _aggregated(_expressions(ranges.semantic, ranges.origin))
    )
    counters: dict[int, dict[str, float]] = {}
    bounds: dict[int | None, tuple[float, float]] = {}
    for bucket, *row in connection.execute(f"SELECT bucket, {columns} FROM ({union}) GROUP BY bucket", args):
        counters[bucket] = dict(zip(COUNTERS, row, strict=False))
        low, high = row[len(COUNTERS) :]
        if low is not None:
            bounds[bucket] = (low, high)
    if bounds:
        bounds[None] = (min(low for low, _ in bounds.values()), max(high for _, high in bounds.values()))
    return counters, bounds


def _percentiles(
    connection: sqlite3.Connection, ranges: _Ranges, bounds: dict[int | None, tuple[float, float]]
) -> tuple[dict[int, Latency], Latency]:
    """Origin latency percentiles per bucket, and over the whole range.

    SQLite sums the histograms (a few thousand cells for any number of requests); the four ranks
    are read off each bucket's cells here, which is cheaper than window functions over them.
    """
    union, args = ranges.union("latency_rollup", "sum(n) AS n", "count(*) AS n", key=("bin", _BIN))
    # Each piece comes grouped (the widest in primary-key order); pieces meet only in the ragged
    # first and last buckets, so merging here is cheaper than a GROUP BY that sorts every cell.
    histograms: dict[int, Counter[int]] = {}
    overall: Counter[int] = Counter()
    for bucket, bin_, n in connection.execute(union, args):
        cells = histograms.get(bucket)
        if cells is None:
            cells = histograms[bucket] = Counter()
        cells[bin_] += n
        overall[bin_] += n
    per_bucket = {bucket: ranks(cells, bounds[bucket]) for bucket, cells in histograms.items()}
    total = ranks(overall, bounds[None]) if overall else Latency()
    return per_bucket, total
