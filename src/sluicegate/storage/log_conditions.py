"""A log query's filter (`log_filter`), its `LogCondition`s and its order as SQL, for SQLite and
PostgreSQL alike.

One compiler, two dialects: what differs is how a value is bound, how a substring is found, and
how the metadata column is walked. Every field maps to a fixed SQL expression here, so no name
from a request ever reaches the SQL text; values are always bound.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sluicegate.storage.base import LOG_ORDER_FIELDS, LogCondition, LogField, LogQuery, LogValue

NUMERIC: frozenset[LogField] = frozenset(
    {"ts", "cost_usd", "tokens", "tokens_in", "tokens_out", "latency_ms", "feedback"}
)
BOOLEAN: frozenset[LogField] = frozenset({"success", "cached"})
METADATA: frozenset[LogField] = frozenset({"metadata_key", "metadata_value"})
_COMPARISONS = {"lt": "<", "gt": ">", "le": "<=", "ge": ">="}


@dataclass(frozen=True, slots=True)
class Dialect:
    """`columns`: the SQL expression of each field but the metadata ones. `contains`: a template
    with {expr} and {value} that holds when value is a case-insensitive substring of expr.
    `metadata`: an EXISTS template with {where} over the record's metadata as `m(key, value)`."""

    columns: Mapping[LogField, str]
    contains: str
    metadata: str
    metadata_value: str
    placeholder: Callable[[int], str]  # the n-th bound value (1-based)
    one_of: Callable[[str, Sequence[Any], Callable[[Any], str]], str]  # column, values, bind
    real: str  # what makes a bound number a float: a score bound of 1 must not bind as an integer


_SHARED: dict[LogField, str] = {
    "id": "id",
    "ts": "ts",
    "provider": "provider",
    "model": "model",
    "endpoint": "endpoint",
    "success": "(status >= 200 AND status < 400)",
    "cached": "(cache_status = 'HIT')",
    "cost_usd": "cost_usd",
    "latency_ms": "latency_ms",
}
_TEXT = "(coalesce(model, '') || ' ' || provider || ' ' || endpoint || ' ' || {metadata})"
# json_each gives true/false as 1/0: spell them as JSON does, as PostgreSQL's jsonb_each_text does.
_SQLITE_VALUE = (
    "(CASE m.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(m.value AS TEXT) END)"
)

SQLITE = Dialect(
    columns=_SHARED
    | {
        "tokens": "(coalesce(tokens_in, 0) + coalesce(tokens_out, 0))",
        "tokens_in": "tokens_in",
        "tokens_out": "tokens_out",
        "feedback": "feedback",
        "text": _TEXT.format(metadata="metadata"),
    },
    contains="instr(lower({expr}), lower({value})) > 0",
    metadata="EXISTS (SELECT 1 FROM json_each(metadata) AS m WHERE {where})",
    metadata_value=_SQLITE_VALUE,
    placeholder=lambda n: "?",
    one_of=lambda column, values, bind: f"{column} IN ({', '.join(bind(value) for value in values)})",
    real="",
)
POSTGRES = Dialect(
    columns=_SHARED
    | {
        # float8, so that a bound such as 1.5 tokens compares instead of failing to bind to a bigint
        "tokens": "(coalesce(tokens_in, 0) + coalesce(tokens_out, 0))::float8",
        "tokens_in": "tokens_in::float8",
        "tokens_out": "tokens_out::float8",
        "feedback": "feedback::float8",
        "text": _TEXT.format(metadata="metadata::text"),
    },
    contains="strpos(lower({expr}), lower({value})) > 0",
    metadata="EXISTS (SELECT 1 FROM jsonb_each_text(metadata) AS m(key, value) WHERE {where})",
    metadata_value="m.value",
    placeholder=lambda n: f"${n}",
    one_of=lambda column, values, bind: f"{column} = ANY({bind(list(values))})",
    real="::float8",
)


def log_filter(query: LogQuery, dialect: Dialect) -> tuple[str, list[Any]]:
    """The WHERE clause (without the keyword) of a log query, and its bound values in order."""
    args: list[Any] = []

    def bind(value: Any) -> str:
        args.append(value)
        return dialect.placeholder(len(args))

    clauses = [f"account = {bind(query.account)}"]
    for column, value in (("gateway", query.gateway), ("provider", query.provider), ("model", query.model)):
        if value is not None:
            clauses.append(f"{column} = {bind(value)}")
    if query.gateways is not None:
        clauses.append(dialect.one_of("gateway", query.gateways, bind))
    bounds: tuple[tuple[str, object, str], ...] = (
        ("ts >=", query.since, ""),
        ("ts <", query.until, ""),
        ("status >=", query.status_min, ""),
        ("status <=", query.status_max, ""),
        ("id <", query.cursor, ""),
        ("id >", query.after, ""),
        ("feedback =", query.feedback, ""),
        ("score >=", query.score_min, dialect.real),
        ("score <=", query.score_max, dialect.real),
    )
    for compare, bound, cast in bounds:
        if bound is not None:
            clauses.append(f"{compare} {bind(bound)}{cast}")
    if query.cached is not None:
        clauses.append("cache_status = 'HIT'" if query.cached else "cache_status != 'HIT'")
    clauses += condition_clauses(query.conditions, dialect, args)
    return " AND ".join(clauses), args


def condition_clauses(conditions: tuple[LogCondition, ...], dialect: Dialect, args: list[Any]) -> list[str]:
    """One SQL clause per condition; their values are appended to `args`. Raises ValueError for a
    comparison the field does not have (a substring of a number, a missing bound)."""
    return [_clause(condition, dialect, args) for condition in conditions]


def order_clause(order: tuple[LogField, bool] | None, dialect: Dialect) -> str:
    """`ORDER BY …`: the field (missing values last), then the id the same way; newest first by default."""
    if order is None:
        return "ORDER BY id DESC"
    field, descending = order
    if field not in LOG_ORDER_FIELDS:
        raise ValueError(f"logs cannot be ordered by {field!r}")
    direction = "DESC" if descending else "ASC"
    if field == "ts":  # ids sort as their times do, and the (account, gateway, id) index walks them
        return f"ORDER BY id {direction}"
    return f"ORDER BY {dialect.columns[field]} {direction} NULLS LAST, id {direction}"


def _clause(condition: LogCondition, dialect: Dialect, args: list[Any]) -> str:
    field, op = condition.field, condition.op
    if op == "contains" and (field in NUMERIC or field in BOOLEAN):
        raise ValueError(f"{field} is not text: `contains` does not apply to it")
    values = tuple(_coerce(field, value) for value in condition.values)
    if field in METADATA:
        inner = "m.key" if field == "metadata_key" else dialect.metadata_value
        if op == "neq":  # no key (value) is any of these
            return "NOT " + dialect.metadata.format(where=_compare(inner, "eq", values, dialect, args))
        return dialect.metadata.format(where=_compare(inner, op, values, dialect, args))
    return _compare(dialect.columns[field], op, values, dialect, args)


def _compare(expr: str, op: str, values: tuple[LogValue, ...], dialect: Dialect, args: list[Any]) -> str:
    def bind(value: LogValue) -> str:
        args.append(value)
        return dialect.placeholder(len(args))

    present = [value for value in values if value is not None]
    if op in _COMPARISONS:
        if len(present) != 1 or len(values) != 1:
            raise ValueError(f"`{op}` compares with exactly one value, got {len(values)}")
        return f"{expr} {_COMPARISONS[op]} {bind(present[0])}"
    if op == "contains":
        matches = [dialect.contains.format(expr=expr, value=bind(str(value))) for value in present]
        return "(" + " OR ".join(matches) + ")" if matches else "1 = 0"
    listed = f"{expr} IN ({', '.join(bind(value) for value in present)})" if present else ""
    if op == "eq":
        either = ([f"{expr} IS NULL"] if None in values else []) + ([listed] if listed else [])
        return "(" + " OR ".join(either) + ")" if either else "1 = 0"
    if op == "neq":
        if None in values:
            return f"({expr} IS NOT NULL AND NOT ({listed}))" if listed else f"{expr} IS NOT NULL"
        return f"({expr} IS NULL OR NOT ({listed}))" if listed else "1 = 1"
    raise ValueError(f"unknown operator {op!r}")


def _coerce(field: LogField, value: LogValue) -> LogValue:
    """Values as the column holds them, so both databases compare (and PostgreSQL binds) alike."""
    if value is None:
        return None
    if field in NUMERIC:
        if isinstance(value, bool):
            raise ValueError(f"{field} is a number, not {value!r}")
        return float(value)
    if field in BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError(f"{field} is true or false, not {value!r}")
        return value
    return value if isinstance(value, str) else _text(value)


def _text(value: float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(int(value)) if value == int(value) else repr(value)
