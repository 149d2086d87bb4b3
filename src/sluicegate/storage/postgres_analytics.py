"""Analytics on PostgreSQL: the roll-up design of `sqlite_analytics.py`, in PostgreSQL's SQL.

The same figures per `logs` row, the same three widths (minute, hour, day), the same latency bins
(⌊20·ln(100·ms)⌋), the same pieces per query (`rollup_bins.cover`: whole roll-up rows of
the widest width that fits, narrower ones at the ragged ends, `logs` itself for what is left under
a minute) and the same nearest-rank percentiles, so both backends answer alike for the same records.

Tables: `analytics_rollup` and `latency_rollup` as on SQLite, keyed by gateway, provider and model,
and `analytics_overall` and `latency_overall`, the same sums over all three: a query with none of
those filters (the dashboard's usual one) reads 10-20 times fewer rows. Each is partitioned by
width, so the hour rows a week's query reads lie together rather than among 60 times more minutes.

Writing: `postgres_rollups`.

Reading: one statement sums the pieces per bucket (counters, fastest and slowest origin latency)
and merges the histograms per bucket, and for the whole range from the widest rows that cover it;
window functions turn each histogram into cumulative counts, and a percentile is the first bin
that reaches its rank ⌈p·n⌉, reported at the bin's geometric middle and clamped to the bucket's
fastest and slowest request, as `rollup_bins.ranks` does. A second statement lists the
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
from sluicegate.storage.postgres_rollups import (
    AGGREGATES,
    FLOATS,
    LATENCY_BIN,
    ORIGIN,
    aggregated,
    expressions,
    floor_to,
)
from sluicegate.storage.rollup_bins import BINS_PER_E, WIDTHS, cover

_FAR = float(2**53)
# Records the guardrails found something in: a partial index (`logs_guarded`) on this finds them.
GUARDED = "metadata ? 'guardrails'"
_WORK_MEM = "64MB"  # for the sorts and hashes of one analytics query


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
            where = f" AND {ORIGIN}" if origin_only else ""
            selects.append(
                f"SELECT {floor_to('ts', step)} AS bucket, {raw} FROM logs"
                f" WHERE account = {account} AND ts >= {arguments.add(float(start))}::float8"
                f" AND ts < {arguments.add(float(end))}::float8{filters}{where}"
            )
            continue
        bucket = "start" if width == step else floor_to("start::float8", step)
        selects.append(
            f"SELECT {bucket} AS bucket, {rolled} FROM {table}"
            f" WHERE account = {account} AND width = {width} AND start >= {arguments.add(int(start))}::bigint"
            f" AND start < {arguments.add(int(end))}::bigint{filters}"
        )
    return " UNION ALL ".join(selects)


def _as_floats(values: Mapping[str, str]) -> str:
    """`values` as columns for `_union`, integers as float8 (see `aggregated`)."""
    return ", ".join(
        f"{value} AS {name}"
        if name in FLOATS or AGGREGATES[name] != "sum"
        else f"({value})::float8 AS {name}"
        for name, value in values.items()
    )


def _figures_statement(
    query: AnalyticsQuery, since: float, until: float, semantic: bool
) -> tuple[str, list[Any]]:
    """One row per bucket with records (counters, origin latency), and one (bucket NULL) for the range."""
    pieces = cover(since, until, [width for width in WIDTHS if width <= query.step])
    arguments = _Arguments()
    overall = query.gateways is None and query.provider is None and query.model is None
    counters = _union(
        query,
        pieces,
        arguments,
        "analytics_overall" if overall else "analytics_rollup",
        _as_floats({name: name for name in AGGREGATES}),
        _as_floats(expressions(semantic)),  # over `logs`, as the roll-ups were filled
    )
    histogram = "latency_overall" if overall else "latency_rollup"
    cells = "bin, n::float8 AS n", f"{LATENCY_BIN} AS bin, 1::float8 AS n"
    per_bucket = _union(query, pieces, arguments, histogram, *cells, origin_only=True)
    # The whole range's histogram from the widest rows that cover it (a day's, not 1,440 minutes'):
    # the same records, so the same counts, read in far fewer rows.
    whole = _union(query, cover(since, until, WIDTHS), arguments, histogram, *cells, origin_only=True)
    # The nearest rank of p among n: ⌈p·n⌉, at least 1; the tolerance keeps 0.95 × 20 at 19, as in
    # rollup_bins.ranks. A percentile's bin is the first whose cumulative count reaches it.
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
    none = {name: "NULL::float8" if name in FLOATS else "NULL::bigint" for name in COUNTERS}
    no_counters = ", ".join(f"{none[name]} AS {name}" for name in COUNTERS)
    no_ranks = ", ".join(f"NULL::int AS {name}" for name in PERCENTILES)
    cumulative = "ROWS UNBOUNDED PRECEDING"  # one row per bin: no peers to look for
    # The parts meet by aggregation, not by joins: no plan depends on guessing their sizes.
    sql = f"""
    WITH c AS (
        SELECT bucket, {aggregated({name: name for name in AGGREGATES}, read=True)}
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
