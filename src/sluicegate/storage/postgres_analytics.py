"""Analytics on PostgreSQL: the roll-up design of `sqlite_analytics.py`, in PostgreSQL's SQL.

The same figures per `logs` row, the same three widths (minute, hour, day), the same latency bins
(⌊20·ln(100·ms)⌋), the same pieces per query (`sqlite_analytics._cover`: whole roll-up rows of
the widest width that fits, narrower ones at the ragged ends, `logs` itself for what is left under
a minute) and the same nearest-rank percentiles, so both backends answer alike for the same records.

Tables: `analytics_rollup` and `latency_rollup` as on SQLite, keyed by gateway, provider and model,
and `analytics_overall` and `latency_overall`, the same sums over all three: a query with none of
those filters (the dashboard's usual one) reads 10-20 times fewer rows. Each is partitioned by
width, so the hour rows a week's query reads lie together rather than among 60 times more minutes.

Writing: `PostgresDatabase` COPYs a batch into `logs` and runs `roll_up_statement` in the same
transaction. It reads the batch's rows back by primary key (the ids the insert stored: a duplicate
it ignored is not counted) and adds them to all four tables with `INSERT … ON CONFLICT DO UPDATE
SET x = r.x + excluded.x`, so the batches of concurrent replicas add up. Every batch upserts the
tables in the same order and each table's rows in primary-key order: two batches that meet on the
same hot rows (this minute, this hour, this day) wait for each other instead of deadlocking.

Reading: one statement sums the pieces per bucket (counters, fastest and slowest origin latency)
and merges the histograms per bucket, and for the whole range from the widest rows that cover it;
window functions turn each histogram into cumulative counts, and a percentile is the first bin
that reaches its rank ⌈p·n⌉, reported at the bin's geometric middle and clamped to the bucket's
fastest and slowest request, as `sqlite_analytics._ranks` does. A second statement lists the
providers and models of the range's days.

Retention leaves the roll-ups alone, as SQLite's does: deleting records or dropping a day partition
of `logs` changes no whole minute's figures, only the sub-minute ends of a range, read from `logs`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from sluicegate.analytics import (
    COUNTERS,
    MAX_GROUPS,
    PERCENTILES,
    AnalyticsQuery,
    AnalyticsResult,
    FeedbackSummary,
    GuardrailsSummary,
    Latency,
    build_result,
    summarise_guardrails,
)

# `_cover`: the pieces a range is cut into are SQLite's own, so both backends align buckets alike.
from sluicegate.storage.sqlite_analytics import BINS_PER_E, SEMANTIC_HIT_COLUMN, WIDTHS, _cover

_FAR = float(2**53)
# Records the guardrails found something in: a partial index (`logs_guarded`) on this finds them.
GUARDED = "metadata ? 'guardrails'"
_WORK_MEM = "64MB"  # for the sorts and hashes of one analytics query
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
_FLOATS = ("cost_usd", "time_saved_ms")  # the other counters are integers
_AGGREGATES = {name: "sum" for name in COUNTERS} | {"origin_min_ms": "min", "origin_max_ms": "max"}
# The `logs` columns a roll-up reads (besides the semantic-cache column, once it exists).
_SOURCE_COLUMNS = (
    "ts", "account", "gateway", "provider", "model", "status", "latency_ms", "tokens_in", "tokens_out",
    "cost_usd", "cache_status", "cache_saved_ms", "rate_limited",
)  # fmt: skip


def _column_type(name: str) -> str:
    if name in _FLOATS:
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
        _table(name, key, {name: _column_type(name) for name in _AGGREGATES})
        for name, key in _COUNTER_TABLES.items()
    ]
    + [_table(name, key, {"n": "BIGINT NOT NULL"}) for name, key in _HISTOGRAM_TABLES.items()]
)


def _semantic_hit(semantic: bool) -> str:
    # `::int` reads the column whether it is a boolean or a 0/1 integer.
    return f"coalesce({SEMANTIC_HIT_COLUMN}::int, 0)" if semantic else "0"


def _origin(semantic: bool) -> str:
    """Whether an upstream answered the request: not from a cache, not refused by a rate limit."""
    semantic_miss = f" AND {_semantic_hit(semantic)} = 0" if semantic else ""
    return f"cache_status <> 'HIT' AND NOT rate_limited{semantic_miss}"


def _expressions(semantic: bool) -> dict[str, str]:
    """Each roll-up value of one `logs` row, before aggregation (see `_AGGREGATES`)."""
    semantic_hit = _semantic_hit(semantic)
    # A semantic hit is logged HIT (before: MISS after an exact miss): counted once, as semantic.
    exact_only = f" AND {semantic_hit} = 0" if semantic else ""
    origin_ms = f"CASE WHEN {_origin(semantic)} THEN latency_ms END"
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
_BIN = f"floor(ln(greatest(latency_ms, 0.01::float8) * 100) * {BINS_PER_E})::int"


def _aggregated(values: Mapping[str, str], read: bool = False) -> str:
    """The aggregates of `_AGGREGATES` over `values`. Reading, the values are float8 (`_as_floats`)
    and integer sums are cast back to BIGINT: PostgreSQL sums BIGINTs in NUMERIC, several times
    slower than in float8, which is exact for these integers (< 2⁵³)."""
    return ", ".join(
        f"{fn}({values[name]}){'::bigint' if read and fn == 'sum' and name not in _FLOATS else ''} AS {name}"
        for name, fn in _AGGREGATES.items()
    )


def _floor_to(value: str, step: int) -> str:
    """The aligned start (BIGINT) of the bucket of width `step` holding `value` (seconds)."""
    return f"floor({value} / {step})::bigint * {step}"


def _roll_up(source: str, semantic: bool) -> list[str]:
    """The upserts that add the rows of `source` (`logs`, or a relation with its columns) to every
    roll-up at every width, in primary-key order."""
    widths = f"(VALUES {', '.join(f'({width})' for width in WIDTHS)}) AS w (width)"
    keys = {
        "account": "account",
        "width": "w.width",
        "start": "floor(ts / w.width)::bigint * w.width",
        "bin": _BIN,
        "gateway": "gateway",
        "provider": 'provider COLLATE "C"',  # sorted as stored
        "model": "coalesce(model, '') COLLATE \"C\"",
    }
    merge = [f"{name} = r.{name} + excluded.{name}" for name in COUNTERS] + [
        f"{name} = {'least' if fn == 'min' else 'greatest'}(r.{name}, excluded.{name})"  # NULLs ignored
        for name, fn in _AGGREGATES.items()
        if fn != "sum"
    ]
    counted = ", ".join((*_AGGREGATES,)), _aggregated(_expressions(semantic)), "", ", ".join(merge)
    histogram = "n", "count(*)", f" WHERE {_origin(semantic)}", "n = r.n + excluded.n"
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
MIGRATION = _TABLES + ";\n".join(_roll_up("logs", semantic=False)) + ";\n"


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


class _Arguments:
    """Numbered parameters: `add(value)` is its `$n`."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _filters(query: AnalyticsQuery, arguments: _Arguments) -> str:
    clauses: list[str] = []
    if query.gateways is not None and len(query.gateways) == 1:  # checked in the index, unlike ANY
        clauses.append(f"gateway = {arguments.add(query.gateways[0])}::text")
    elif query.gateways is not None:
        clauses.append(f"gateway = ANY({arguments.add(list(query.gateways))}::text[])")
    for column, value in (("provider", query.provider), ("model", query.model)):
        if value is not None:
            clauses.append(f"{column} = {arguments.add(value)}::text")
    return "".join(f" AND {clause}" for clause in clauses)


def _union(
    query: AnalyticsQuery,
    pieces: list[tuple[int, float, float]],
    semantic: bool,
    arguments: _Arguments,
    table: str,
    rolled: str,
    raw: str,
    origin_only: bool = False,
) -> str:
    """Per piece, rows (bucket, values…) to aggregate: `rolled` over `table`'s rows, or `raw` over
    the `logs` records (`origin_only`: of the requests an upstream answered). Not grouped per piece:
    one aggregation over the union does it once."""
    step = query.step
    account = arguments.add(query.account)
    filters = _filters(query, arguments)
    selects: list[str] = []
    for width, start, end in pieces:
        if not width:
            where = f" AND {_origin(semantic)}" if origin_only else ""
            selects.append(
                f"SELECT {_floor_to('ts', step)} AS bucket, {raw} FROM logs"
                f" WHERE account = {account} AND ts >= {arguments.add(float(start))}::float8"
                f" AND ts < {arguments.add(float(end))}::float8{filters}{where}"
            )
            continue
        bucket = "start" if width == step else _floor_to("start::float8", step)
        selects.append(
            f"SELECT {bucket} AS bucket, {rolled} FROM {table}"
            f" WHERE account = {account} AND width = {width} AND start >= {arguments.add(int(start))}::bigint"
            f" AND start < {arguments.add(int(end))}::bigint{filters}"
        )
    return " UNION ALL ".join(selects)


def _as_floats(values: Mapping[str, str]) -> str:
    """`values` as columns for `_union`, integers as float8 (see `_aggregated`)."""
    return ", ".join(
        f"{value} AS {name}"
        if name in _FLOATS or _AGGREGATES[name] != "sum"
        else f"({value})::float8 AS {name}"
        for name, value in values.items()
    )


def _figures_statement(
    query: AnalyticsQuery, since: float, until: float, semantic: bool
) -> tuple[str, list[Any]]:
    """One row per bucket with records (counters, origin latency), and one (bucket NULL) for the range."""
    pieces = _cover(since, until, [width for width in WIDTHS if width <= query.step])
    arguments = _Arguments()
    overall = query.gateways is None and query.provider is None and query.model is None
    counters = _union(
        query,
        pieces,
        semantic,
        arguments,
        "analytics_overall" if overall else "analytics_rollup",
        _as_floats({name: name for name in _AGGREGATES}),
        _as_floats(_expressions(semantic)),  # over `logs`, as the roll-ups were filled
    )
    histogram = "latency_overall" if overall else "latency_rollup"
    cells = "bin, n::float8 AS n", f"{_BIN} AS bin, 1::float8 AS n"
    per_bucket = _union(query, pieces, semantic, arguments, histogram, *cells, origin_only=True)
    # The whole range's histogram from the widest rows that cover it (a day's, not 1,440 minutes'):
    # the same records, so the same counts, read in far fewer rows.
    whole = _union(
        query, _cover(since, until, WIDTHS), semantic, arguments, histogram, *cells, origin_only=True
    )
    # The nearest rank of p among n: ⌈p·n⌉, at least 1; the tolerance keeps 0.95 × 20 at 19, as in
    # sqlite_analytics._ranks. A percentile's bin is the first whose cumulative count reaches it.
    rank = {
        name: f"greatest(1, ceil({p!r}::float8 * total - 1e-9::float8))" for name, p in PERCENTILES.items()
    }
    ranks = ", ".join(f"min(bin) FILTER (WHERE below >= {rank[name]}) AS {name}" for name in PERCENTILES)
    lowest = min(PERCENTILES, key=PERCENTILES.__getitem__)
    values = ", ".join(
        f"least(greatest(exp((max({name}) + 0.5::float8) / {BINS_PER_E}) / 100, min(low)), max(high))"
        f" AS {name}"
        for name in PERCENTILES
    )
    none = {name: "NULL::float8" if name in _FLOATS else "NULL::bigint" for name in COUNTERS}
    no_counters = ", ".join(f"{none[name]} AS {name}" for name in COUNTERS)
    no_ranks = ", ".join(f"NULL::int AS {name}" for name in PERCENTILES)
    cumulative = "ROWS UNBOUNDED PRECEDING"  # one row per bin: no peers to look for
    # The parts meet by aggregation, not by joins: no plan depends on guessing their sizes.
    sql = f"""
    WITH c AS (
        SELECT bucket, {_aggregated({name: name for name in _AGGREGATES}, read=True)}
        FROM ({counters}) AS u GROUP BY bucket
    ), cumulative AS (
        SELECT bucket, bin, sum(n) OVER (PARTITION BY bucket ORDER BY bin {cumulative}) AS below,
            sum(n) OVER (PARTITION BY bucket) AS total
        FROM (SELECT bucket, bin, sum(n) AS n FROM ({per_bucket}) AS u GROUP BY bucket, bin) AS h
        UNION ALL
        SELECT NULL, bin, sum(n) OVER (ORDER BY bin {cumulative}), sum(n) OVER ()
        FROM (SELECT bin, sum(n) AS n FROM ({whole}) AS u GROUP BY bin) AS h
    ), r AS (
        SELECT bucket, max(total)::bigint AS origin, {ranks} FROM cumulative
        WHERE below >= {rank[lowest]}  -- no bin before the lowest percentile's is any percentile's
        GROUP BY bucket
    )
    SELECT bucket, {", ".join(f"max({name}) AS {name}" for name in COUNTERS)}, max(origin) AS origin, {values}
    FROM (
        SELECT bucket, {", ".join(COUNTERS)}, origin_min_ms AS low, origin_max_ms AS high,
            NULL::bigint AS origin, {no_ranks}
        FROM c
        UNION ALL
        SELECT NULL, {no_counters}, min(origin_min_ms), max(origin_max_ms), NULL, {no_ranks} FROM c
        UNION ALL
        SELECT bucket, {no_counters}, NULL, NULL, origin, {", ".join(PERCENTILES)} FROM r
    ) AS parts
    GROUP BY bucket
    """
    return sql, arguments.values


def _latency(row: asyncpg.Record) -> Latency:
    if not row["origin"]:
        return Latency()
    return Latency(requests=row["origin"], **{name: row[name] for name in PERCENTILES})


async def analytics(connection: asyncpg.Connection, query: AnalyticsQuery, semantic: bool) -> AnalyticsResult:
    """The query's totals and series, computed in PostgreSQL from the roll-ups (and `logs` at the ends)."""
    # No record lies beyond ±2⁵³ s; the clamp keeps absurd bounds out of BIGINT parameters.
    since, until = max(query.since, -_FAR), min(query.until, _FAR)
    if since >= until:
        return build_result(query, {}, {}, Latency())
    sql, arguments = _figures_statement(query, since, until, semantic)
    counters: dict[int, dict[str, float]] = {}
    latency: dict[int, Latency] = {}
    total = Latency()
    async with connection.transaction(readonly=True):
        # Tens of thousands of histogram cells sort in memory, not in temporary files; compiling
        # the statement (JIT, when the planner guesses it costly) takes longer than running it.
        await connection.execute(f"SET LOCAL work_mem = '{_WORK_MEM}'; SET LOCAL jit = off")
        rows = await connection.fetch(sql, *arguments)
        seen = await _seen(connection, query, since, until)
        feedback = await _feedback(connection, query, since, until)
        guardrails = await _guardrails(connection, query, since, until)
        groups = await _groups(connection, query, since, until)
    for row in rows:
        if row["bucket"] is None:  # the whole range
            total = _latency(row)
            continue
        counters[row["bucket"]] = {name: row[name] for name in COUNTERS}
        if row["origin"]:
            latency[row["bucket"]] = _latency(row)
    return build_result(query, counters, latency, total, seen, feedback, guardrails, groups)


_GROUP_KEYS = {"route": "split_part(metadata->>'route', '@', 1)", "target": "provider || '/' || model"}


async def _groups(
    connection: asyncpg.Connection, query: AnalyticsQuery, since: float, until: float
) -> list[tuple[Any, ...]]:
    """Each route's or target's figures (`Group`), from the routed records of the range."""
    if query.by is None:
        return []
    arguments = _Arguments()
    account = arguments.add(query.account)
    bounds = f"ts >= {arguments.add(since)}::float8 AND ts < {arguments.add(until)}::float8"
    filters = _filters(query, arguments)
    rows = await connection.fetch(
        f"SELECT {_GROUP_KEYS[query.by]} AS key, count(*),"
        " count(*) FILTER (WHERE status BETWEEN 400 AND 499), count(*) FILTER (WHERE status >= 500),"
        " coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0), coalesce(sum(cost_usd), 0.0),"
        " avg(latency_ms) FROM logs"
        f" WHERE account = {account} AND {bounds} AND metadata ? 'route'{filters}"
        f" GROUP BY 1 HAVING {_GROUP_KEYS[query.by]} IS NOT NULL ORDER BY 2 DESC, 1 LIMIT {MAX_GROUPS}",
        *arguments.values,
    )
    return [tuple(row) for row in rows]


async def _feedback(
    connection: asyncpg.Connection, query: AnalyticsQuery, since: float, until: float
) -> FeedbackSummary:
    """The range's feedback, from the annotated records themselves (see `FeedbackSummary`); the
    condition is the partial index's own, so only those records are read."""
    arguments = _Arguments()
    account = arguments.add(query.account)
    bounds = f"ts >= {arguments.add(since)}::float8 AND ts < {arguments.add(until)}::float8"
    filters = _filters(query, arguments)
    row = await connection.fetchrow(
        "SELECT count(*) FILTER (WHERE feedback = -1), count(*) FILTER (WHERE feedback = 0),"
        " count(*) FILTER (WHERE feedback = 1), count(score), avg(score) FROM logs"
        f" WHERE account = {account} AND {bounds} AND (feedback IS NOT NULL OR score IS NOT NULL){filters}",
        *arguments.values,
    )
    return FeedbackSummary(negative=row[0], neutral=row[1], positive=row[2], scored=row[3], mean_score=row[4])


async def _guardrails(
    connection: asyncpg.Connection, query: AnalyticsQuery, since: float, until: float
) -> GuardrailsSummary:
    """The range's guardrail findings, grouped by the records' findings text; the condition is the
    partial index `logs_guarded`'s own, so only those records are read."""
    arguments = _Arguments()
    account = arguments.add(query.account)
    bounds = f"ts >= {arguments.add(since)}::float8 AND ts < {arguments.add(until)}::float8"
    filters = _filters(query, arguments)
    rows = await connection.fetch(
        "SELECT metadata->>'guardrails', count(*) FROM logs"
        f" WHERE account = {account} AND {bounds} AND {GUARDED}{filters} GROUP BY 1",
        *arguments.values,
    )
    return summarise_guardrails((str(row[0]), row[1]) for row in rows)


async def _seen(
    connection: asyncpg.Connection, query: AnalyticsQuery, since: float, until: float
) -> tuple[list[str], list[str]]:
    """The providers and models of the range's days (day rows: a few hundred at most)."""
    arguments = _Arguments()
    day = WIDTHS[0]
    account = arguments.add(query.account)
    first = arguments.add(math.floor(since / day) * day)
    end = arguments.add(math.ceil(until))  # an integer start is < until iff it is < ⌈until⌉
    filters = _filters(query.model_copy(update={"provider": None, "model": None}), arguments)
    rows = await connection.fetch(
        "SELECT DISTINCT provider, model FROM analytics_rollup"
        f" WHERE account = {account} AND width = {day} AND start >= {first}::bigint"
        f" AND start < {end}::bigint{filters}",
        *arguments.values,
    )
    return sorted({row[0] for row in rows}), sorted({row[1] for row in rows if row[1]})
