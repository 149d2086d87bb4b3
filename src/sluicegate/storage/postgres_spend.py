"""Spend on PostgreSQL: the statements of `sqlite_spend.py`, over the day partitions of `logs` that
the range touches (PostgreSQL prunes the others by `ts`). Users and teams are read from `metadata`."""

from __future__ import annotations

from typing import Any

import asyncpg  # type: ignore[import-untyped]

from sluicegate.spend import SpendQuery, SpendResult, build_spend

_GROUPS = {
    "token": "token_id",
    "model": "model",
    "user": "metadata->>'user'",
    "team": "metadata->>'team'",
}
_FIGURES = (
    "count(*), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0),"
    " coalesce(sum(cost_usd), 0.0), count(*) FILTER (WHERE unpriced)"
)


async def spend(connection: asyncpg.Connection, query: SpendQuery) -> SpendResult:
    group = _GROUPS[query.by]
    where, args = _filter(query)
    groups = await connection.fetch(
        f"SELECT {group} AS spender, {_FIGURES} FROM logs WHERE {where} GROUP BY 1", *args
    )
    if query.key is not None:
        args.append(query.key)
        where += f" AND {group} = ${len(args)}"
    step = query.step
    rows = await connection.fetch(
        f"SELECT (floor(ts / {step}) * {step})::bigint AS bucket, {_FIGURES}"
        f" FROM logs WHERE {where} GROUP BY 1",
        *args,
    )
    points = {int(row[0]): tuple(row[1:]) for row in rows}
    return build_spend(query, [tuple(row) for row in groups], points)


def _filter(query: SpendQuery) -> tuple[str, list[Any]]:
    args: list[Any] = [query.account, query.since, query.until]
    clauses = ["account = $1", "ts >= $2", "ts < $3"]
    if query.gateways is not None:
        args.append(list(query.gateways))
        clauses.append(f"gateway = ANY(${len(args)}::text[])")
    return " AND ".join(clauses), args
