"""A page of an account's gateways, selected and counted in SQL (SQLite and PostgreSQL alike), and
the statement that changes one.

A listing reads only the rows of its page, so it parses no settings it does not answer with.
Values are always bound; the SQL text holds none of the request's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sluicegate.gateway import GatewaySettings

GATEWAY_COLUMNS = "account, slug, name, settings, created_at, modified_at, version"
Dialect = Literal["sqlite", "postgres"]


@dataclass(frozen=True, slots=True)
class GatewayQuery:
    """The gateways of `account` whose slug contains `search`, of `slugs` when given (what a token
    limited to some gateways reaches), after slug `after`, by slug: `offset` skipped, then at most
    `limit` (all when None)."""

    account: str
    search: str = ""
    slugs: frozenset[str] | None = None
    after: str | None = None
    offset: int = 0
    limit: int | None = None


def select_sql(query: GatewayQuery, dialect: Dialect) -> tuple[str, list[Any]]:
    """The page's rows, by slug: the statement and its arguments."""
    bound = _Bound(dialect)
    sql = f"SELECT {GATEWAY_COLUMNS} FROM gateways WHERE {_where(query, bound)} ORDER BY slug"
    if query.limit is not None:
        sql += f" LIMIT {bound(query.limit)}"
    elif query.offset:
        sql += " LIMIT -1" if dialect == "sqlite" else " LIMIT ALL"
    if query.offset:
        sql += f" OFFSET {bound(query.offset)}"
    return sql, bound.values


def update_sql(
    account: str,
    slug: str,
    name: str | None,
    settings: GatewaySettings | None,
    version: int | None,
    now: float,
    dialect: Dialect,
) -> tuple[str, list[Any]]:
    """Rename a gateway and/or replace its settings (None: kept), one version on, and answer its row;
    with `version`, only if it is still at that version (one statement: no change slips between)."""
    bound = _Bound(dialect)
    sql = (
        f"UPDATE gateways SET name = coalesce({bound(name or None)}, name),"
        f" settings = coalesce({bound(settings.model_dump_json() if settings else None)}, settings),"
        f" modified_at = {bound(now)}, version = version + 1"
        f" WHERE account = {bound(account)} AND slug = {bound(slug)}"
    )
    if version is not None:
        sql += f" AND version = {bound(version)}"
    return f"{sql} RETURNING {GATEWAY_COLUMNS}", bound.values


def count_sql(query: GatewayQuery, dialect: Dialect) -> tuple[str, list[Any]]:
    """How many gateways the query selects, its page aside."""
    bound = _Bound(dialect)
    return f"SELECT count(*) FROM gateways WHERE {_where(query, bound)}", bound.values


class _Bound:
    """The values bound so far; calling it binds one more and answers its placeholder."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return "?" if self.dialect == "sqlite" else f"${len(self.values)}"


def _where(query: GatewayQuery, bind: _Bound) -> str:
    clauses = [f"account = {bind(query.account)}"]
    if query.search:  # slugs are lower case; the caller lowers the search
        find = "instr(slug, {}) > 0" if bind.dialect == "sqlite" else "strpos(slug, {}) > 0"
        clauses.append(find.format(bind(query.search)))
    if query.slugs is not None:
        slugs = sorted(query.slugs)
        if not slugs:
            clauses.append("0 = 1")
        elif bind.dialect == "sqlite":
            clauses.append(f"slug IN ({', '.join(bind(slug) for slug in slugs)})")
        else:
            clauses.append(f"slug = ANY({bind(slugs)}::text[])")
    if query.after is not None:
        clauses.append(f"slug > {bind(query.after)}")
    return " AND ".join(clauses)
