"""The records behind the semantic cache's what-if and precision (`semantic_report`), in SQL that
SQLite and PostgreSQL both run: one grouped read of the range's semantic lookups and shadow
checks, found by the partial index `logs_semantic` (a query uses it only when its WHERE holds
`SEMANTIC_LOOKUPS` as written)."""

from __future__ import annotations

from typing import Any

from sluicegate.semantic_report import Bin

SEMANTIC_LOOKUPS = "cache_source IN ('semantic', 'shadow')"
# A similarity in hundredths, rounded down (the tolerance absorbs float64 rounding: 0.29 · 100 is
# 28.999…); per dialect, since PostgreSQL's CAST rounds where SQLite's truncates.
HUNDREDTHS = {
    "sqlite": "CAST(semantic_similarity * 100 + 1e-6 AS INTEGER)",
    "postgres": "floor(semantic_similarity * 100 + 1e-6)::int",
}
_COLUMNS = """cache_source, {hundredths},
    count(*),
    sum(CASE WHEN semantic_verified THEN 1 ELSE 0 END),
    sum(CASE WHEN semantic_verified IS NULL AND semantic_similarity IS NOT NULL THEN 1 ELSE 0 END),
    coalesce(sum(CASE WHEN semantic_verified THEN
        (CASE WHEN semantic_hit THEN saved_usd ELSE cost_usd END) END), 0),
    sum(CASE WHEN semantic_hit THEN 1 ELSE 0 END),
    coalesce(sum(CASE WHEN semantic_hit THEN saved_usd END), 0),
    sum(CASE WHEN shadow_agreed IS NOT NULL THEN 1 ELSE 0 END),
    sum(CASE WHEN shadow_agreed THEN 1 ELSE 0 END)"""


def statement(dialect: str, gateways: tuple[str, ...] | None) -> str:
    """The grouped read; its arguments are `arguments(...)`: `?` placeholders on SQLite, `$n` on
    PostgreSQL."""
    where = f"account = ? AND ts >= ? AND ts < ? AND {SEMANTIC_LOOKUPS}"
    if gateways is not None:
        where += f" AND gateway IN ({', '.join('?' * len(gateways))})" if gateways else " AND false"
    columns = _COLUMNS.format(hundredths=HUNDREDTHS[dialect])
    sql = f"SELECT {columns} FROM logs WHERE {where} GROUP BY 1, 2"
    if dialect == "postgres":
        pieces = sql.split("?")
        sql = pieces[0] + "".join(f"${n}{piece}" for n, piece in enumerate(pieces[1:], start=1))
    return sql


def arguments(account: str, since: float, until: float, gateways: tuple[str, ...] | None) -> list[Any]:
    return [account, since, until, *(gateways or ())]


def bins(rows: list[Any]) -> list[Bin]:
    return [
        Bin(
            source=str(row[0]),
            hundredth=None if row[1] is None else int(row[1]),
            records=int(row[2]),
            verified=int(row[3]),
            unverified=int(row[4]),
            savings_usd=float(row[5]),
            hits=int(row[6]),
            hit_savings_usd=float(row[7]),
            checked=int(row[8]),
            agreed=int(row[9]),
        )
        for row in rows
    ]
