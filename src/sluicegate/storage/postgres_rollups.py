"""PostgreSQL's analytics roll-ups: their tables (partitioned by width) and the statements that
add a batch of `logs` rows to them (see `postgres_analytics` for the design and the reading).

Writing: `PostgresDatabase` COPYs a batch into `logs` and runs `roll_up_statement` in the same
transaction. It reads the batch's rows back by primary key (the ids the insert stored: a duplicate
it ignored is not counted) and adds them to all four tables with `INSERT … ON CONFLICT DO UPDATE
SET x = r.x + excluded.x`, so the batches of concurrent replicas add up. Every batch upserts the
tables in the same order and each table's rows in primary-key order: two batches that meet on the
same hot rows (this minute, this hour, this day) wait for each other instead of deadlocking.
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg  # type: ignore[import-untyped]

from sluicegate.analytics import COUNTERS
from sluicegate.storage.postgres_pool import row_count
from sluicegate.storage.rollup_bins import BINS_PER_E, KEPT_SECONDS, SEMANTIC_HIT_COLUMN, WIDTHS, kept_from

_LABELS = ("gateway", "provider", "model")
# Each roll-up: its name and key. The `_overall` ones sum the labelled rows of their key over all
# gateways, providers and models: a query without those filters reads 10-20 times fewer rows.
_COUNTER_TABLES = {
    "analytics_rollup": ("account", "width", "start", *_LABELS),
    "analytics_overall": ("account", "width", "start"),
}
_HISTOGRAM_TABLES = {
    "latency_rollup": ("account", "width", "start", "bin", *_LABELS),
    "latency_overall": ("account", "width", "start", "bin"),
}
TABLES = (*_COUNTER_TABLES, *_HISTOGRAM_TABLES)
FLOATS = ("cost_usd", "time_saved_ms")  # the other counters are integers
AGGREGATES = {name: "sum" for name in COUNTERS} | {"origin_min_ms": "min", "origin_max_ms": "max"}
# The `logs` columns a roll-up reads (besides the semantic-cache column, once it exists).
_SOURCE_COLUMNS = (
    "ts", "account", "gateway", "provider", "model", "status", "latency_ms", "tokens_in", "tokens_out",
    "cost_usd", "cache_status", "cache_saved_ms", "rate_limited", "upstream_status",
)  # fmt: skip


def _column_type(name: str) -> str:
    if name in FLOATS:
        return "DOUBLE PRECISION NOT NULL"
    if name in ("origin_min_ms", "origin_max_ms"):
        return "DOUBLE PRECISION"
    return "BIGINT NOT NULL"


_TEXT = 'TEXT COLLATE "C"'  # account and labels compare byte by byte, as SQLite's
_KEY_TYPES = {"width": "INTEGER", "start": "BIGINT", "bin": "INTEGER"}


def _table(name: str, key: tuple[str, ...], values: Mapping[str, str]) -> str:
    """A roll-up table, one partition per width: a query reads one width, whose rows then lie
    together, in time order, not among the 60 times more minute rows. Rows are updated by every
    batch of their minute, hour or day: room on each page keeps the updates HOT (no new index
    entry; old versions pruned in place)."""
    columns = [f"{column} {_KEY_TYPES.get(column, _TEXT)} NOT NULL" for column in key]
    columns += [f"{column} {kind}" for column, kind in values.items()]
    partitions = "".join(
        f"CREATE TABLE {name}_{width} PARTITION OF {name} FOR VALUES IN ({width}) WITH (fillfactor = 70);\n"
        for width in WIDTHS
    )
    return (
        f"CREATE TABLE {name} ({', '.join(columns)}, PRIMARY KEY ({', '.join(key)}))"
        f" PARTITION BY LIST (width);\n{partitions}"
    )


_TABLES = "".join(
    [
        _table(name, key, {name: _column_type(name) for name in AGGREGATES})
        for name, key in _COUNTER_TABLES.items()
    ]
    + [_table(name, key, {"n": "BIGINT NOT NULL"}) for name, key in _HISTOGRAM_TABLES.items()]
)


def _semantic_hit(semantic: bool) -> str:
    # `::int` reads the column whether it is a boolean or a 0/1 integer.
    return f"coalesce({SEMANTIC_HIT_COLUMN}::int, 0)" if semantic else "0"


# Whether an upstream answered the request (`LogRecord.upstream_status`), which origin latency counts:
# not a cache hit, nor the gateway's own refusal (a token missing, an unknown provider, a guardrail,
# a rate limit), nor a try that got no answer. As SQLite's (`sqlite_analytics.ORIGIN`).
ORIGIN = "upstream_status IS NOT NULL"
# What version 3 of the migrations counted, before records said whether an upstream answered:
# every request but cache hits and rate-limited ones. Kept for that migration's text (`MIGRATION`).
_ORIGIN_BEFORE = "cache_status <> 'HIT' AND NOT rate_limited"


def expressions(semantic: bool, origin: str = ORIGIN) -> dict[str, str]:
    """Each roll-up value of one `logs` row, before aggregation (see `AGGREGATES`)."""
    semantic_hit = _semantic_hit(semantic)
    # A semantic hit is logged HIT (before: MISS after an exact miss): counted once, as semantic.
    exact_only = f" AND {semantic_hit} = 0" if semantic else ""
    origin_ms = f"CASE WHEN {origin} THEN latency_ms END"
    return {
        "requests": "1",
        "errors_4xx": "(status BETWEEN 400 AND 499)::int",
        "errors_5xx": "(status >= 500)::int",
        "tokens_in": "coalesce(tokens_in, 0)",
        "tokens_out": "coalesce(tokens_out, 0)",
        "cost_usd": "coalesce(cost_usd, 0::float8)",
        "cache_hits": f"(cache_status = 'HIT'{exact_only})::int",
        "semantic_hits": semantic_hit,
        "cache_misses": f"(cache_status = 'MISS'{exact_only})::int",
        "tokens_from_cache": f"CASE WHEN cache_status = 'HIT' OR {semantic_hit} <> 0"
        " THEN coalesce(tokens_in, 0) + coalesce(tokens_out, 0) ELSE 0 END",
        "time_saved_ms": "coalesce(cache_saved_ms, 0::float8)",
        "rate_limited": "rate_limited::int",
        "origin_min_ms": origin_ms,
        "origin_max_ms": origin_ms,
    }


# SQLite's CAST(… AS INTEGER) truncates; the value is ≥ 0 there, so floor is the same bin.
LATENCY_BIN = f"floor(ln(greatest(latency_ms, 0.01::float8) * 100) * {BINS_PER_E})::int"


def aggregated(values: Mapping[str, str], read: bool = False) -> str:
    """The aggregates of `AGGREGATES` over `values`. Reading, the values are float8 (`_as_floats`)
    and integer sums are cast back to BIGINT: PostgreSQL sums BIGINTs in NUMERIC, several times
    slower than in float8, which is exact for these integers (< 2⁵³)."""
    return ", ".join(
        f"{fn}({values[name]}){'::bigint' if read and fn == 'sum' and name not in FLOATS else ''} AS {name}"
        for name, fn in AGGREGATES.items()
    )


def floor_to(value: str, step: int) -> str:
    """The aligned start (BIGINT) of the bucket of width `step` holding `value` (seconds)."""
    return f"floor({value} / {step})::bigint * {step}"


def _roll_up(source: str, semantic: bool, origin: str = ORIGIN) -> list[str]:
    """The upserts that add the rows of `source` (`logs`, or a relation with its columns) to every
    roll-up at every width, in primary-key order; `origin`: the rows whose latency is counted."""
    widths = f"(VALUES {', '.join(f'({width})' for width in WIDTHS)}) AS w (width)"
    keys = {
        "account": "account",
        "width": "w.width",
        "start": "floor(ts / w.width)::bigint * w.width",
        "bin": LATENCY_BIN,
        "gateway": "gateway",
        "provider": 'provider COLLATE "C"',  # sorted as stored
        "model": "coalesce(model, '') COLLATE \"C\"",
    }
    merge = [f"{name} = r.{name} + excluded.{name}" for name in COUNTERS] + [
        f"{name} = {'least' if fn == 'min' else 'greatest'}(r.{name}, excluded.{name})"  # NULLs ignored
        for name, fn in AGGREGATES.items()
        if fn != "sum"
    ]
    counted = ", ".join((*AGGREGATES,)), aggregated(expressions(semantic, origin)), "", ", ".join(merge)
    histogram = "n", "count(*)", f" WHERE {origin}", "n = r.n + excluded.n"
    statements = []
    for tables, (columns, values, where, update) in (
        (_COUNTER_TABLES, counted),
        (_HISTOGRAM_TABLES, histogram),
    ):
        for name, key in tables.items():
            positions = ", ".join(str(i) for i in range(1, len(key) + 1))
            selected = ", ".join(keys[column] for column in key)
            statements.append(
                f"INSERT INTO {name} AS r ({', '.join(key)}, {columns})"
                f" SELECT {selected}, {values} FROM {source}, {widths}{where}"
                f" GROUP BY {positions} ORDER BY {positions}"
                f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {update}"
            )
    return statements


# Version 3 of postgres.py's migrations: the tables, filled from the logs already there. No schema
# of that version has the semantic-cache column. Generated, but shipped: keep its text stable.
MIGRATION = _TABLES + ";\n".join(_roll_up("logs", semantic=False, origin=_ORIGIN_BEFORE)) + ";\n"


def roll_up_statement(semantic: bool) -> str:
    """One statement adding the `logs` rows of primary keys `$1` (ids) and `$2` (their ts) to the
    roll-ups; run it in the transaction that inserted them. `semantic`: `logs` has the column."""
    columns = ", ".join((*_SOURCE_COLUMNS, *([SEMANTIC_HIT_COLUMN] if semantic else [])))
    # The lateral subquery (kept apart by OFFSET 0) is one primary-key probe per row, pruned to the
    # row's day partition, whatever the planner makes of the arrays' sizes.
    batch = (
        f"SELECT l.* FROM unnest($1::text[], $2::float8[]) AS b (id, ts) CROSS JOIN LATERAL"
        f" (SELECT {columns} FROM logs WHERE logs.id = b.id AND logs.ts = b.ts OFFSET 0) AS l"
    )
    *first, last = _roll_up("batch", semantic)
    # The main statement and the unreferenced CTEs run in the same order in every batch.
    upserts = "".join(f", u{i} AS ({statement})" for i, statement in enumerate(first))
    return f"WITH batch AS MATERIALIZED ({batch}){upserts} {last}"


async def has_semantic_column(connection: asyncpg.Connection) -> bool:
    """Whether `logs` has the semantic cache's column (counted once it exists, as on SQLite)."""
    found = await connection.fetchval(
        "SELECT 1 FROM pg_attribute WHERE attrelid = 'logs'::regclass AND attname = $1 AND NOT attisdropped",
        SEMANTIC_HIT_COLUMN,
    )
    return bool(found)


PRUNE_CHUNK = 5000  # rows a transaction


async def prune(pool: asyncpg.Pool, now: float) -> int:
    """Delete the minute and hour rows of every roll-up past the age they are kept for
    (`KEPT_SECONDS`; day rows stay), a transaction of at most `PRUNE_CHUNK` rows at a time, each
    picked by primary key within one account: replicas doing it at once only delete less each."""
    pruned = 0
    async with pool.acquire() as connection:
        # Every account with finer rows has day rows, which are never pruned: found a seek each.
        days = f"analytics_overall_{WIDTHS[0]}"
        accounts = await connection.fetch(
            f"WITH RECURSIVE a (account) AS (SELECT min(account) FROM {days}"
            f" UNION ALL SELECT (SELECT min(account) FROM {days} o WHERE o.account > a.account)"
            " FROM a WHERE a.account IS NOT NULL) SELECT account FROM a WHERE account IS NOT NULL"
        )
        for width in KEPT_SECONDS:
            for table in TABLES:
                partition = f"{table}_{width}"
                kept = f"account = $1 AND width = {width} AND start < $2"  # the primary key's order
                chosen = f"SELECT ctid FROM {partition} WHERE {kept} LIMIT $3"
                for (account,) in accounts:
                    while True:
                        status = await connection.execute(
                            f"DELETE FROM {partition} WHERE ctid = ANY(ARRAY({chosen}))",  # a TID scan
                            account,
                            kept_from(width, now),
                            PRUNE_CHUNK,
                        )
                        pruned += row_count(status)
                        if row_count(status) < PRUNE_CHUNK:
                            break
    return pruned
