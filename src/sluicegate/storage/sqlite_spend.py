"""Spend on SQLite: two aggregate statements over the `logs_spend` index, never the wide rows.

`logs_spend` is `(account, ts, gateway, token_id, model, tokens_in, tokens_out, cost_usd, unpriced,
metadata)`: a range of one account is one index range, and every column a report reads is in the
index, so SQLite reads no row of `logs` (with its headers and bodies) at all. Users and teams are
read from the metadata JSON. Nothing here opens a connection or keeps state.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sluicegate.spend import SpendQuery, SpendResult, build_spend

_GROUPS = {
    "token": "token_id",
    "model": "model",
    "user": "CAST(json_extract(metadata, '$.user') AS TEXT)",
    "team": "CAST(json_extract(metadata, '$.team') AS TEXT)",
}
_FIGURES = (
    "count(*), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0),"
    " coalesce(sum(cost_usd), 0.0), coalesce(sum(unpriced), 0)"
)


def spend(connection: sqlite3.Connection, query: SpendQuery) -> SpendResult:
    group = _GROUPS[query.by]
    where, args = _filter(query)
    groups = connection.execute(
        f"SELECT {group} AS spender, {_FIGURES}"
        f" FROM logs INDEXED BY logs_spend WHERE {where} GROUP BY spender",
        args,
    ).fetchall()
    if query.key is not None:
        where += f" AND {group} = ?"
        args.append(query.key)
    step = query.step
    points = {
        int(start): tuple(rest)
        for start, *rest in connection.execute(
            f"SELECT CAST(ts / {step} AS INTEGER) * {step} AS bucket, {_FIGURES}"
            f" FROM logs INDEXED BY logs_spend WHERE {where} GROUP BY bucket",
            args,
        )
    }
    return build_spend(query, groups, points)


def _filter(query: SpendQuery) -> tuple[str, list[Any]]:
    clauses = ["account = ?", "ts >= ?", "ts < ?"]
    args: list[Any] = [query.account, query.since, query.until]
    if query.gateways is not None:
        clauses.append(f"gateway IN ({', '.join('?' * len(query.gateways))})")
        args.extend(query.gateways)
    return " AND ".join(clauses), args
