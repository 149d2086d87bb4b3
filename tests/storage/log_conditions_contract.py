"""Log conditions, order, offset, count and delete, on every backend.

As in the contract suite, each answer is checked against a reference written here from the
meaning `LogCondition` documents, so both backends are held to it, not merely to each other.

Not collected itself: tests/storage/test_sqlite_database.py runs every test here on SQLite,
tests/integration/backends/test_postgres_database.py on PostgreSQL, with the slow tier.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from sluicegate.storage.base import LOG_ORDER_FIELDS, LogCondition, LogField, LogQuery, LogRecord, LogValue
from tests.storage.database_contract import DAY, T0, Backend, record

METADATA: list[dict[str, Any]] = [
    {},
    {"team": "search", "n": 2, "beta": True},
    {"team": "ads", "beta": False},
    {"owner": "Ana", "n": 2.5},
]


def corpus() -> list[LogRecord]:
    """Records varied in every field a condition reads, some missing, over two days and gateways."""
    rng = random.Random(11)
    records = []
    for n in range(80):
        records.append(
            record(
                ts=T0 + n * 2_000 + rng.random(),
                account=rng.choice(["local", "local", "local", "acme"]),
                gateway=rng.choice(["default", "prod"]),
                provider=rng.choice(["openai", "anthropic", "workers-ai"]),
                model=rng.choice(["gpt-4o", "claude-sonnet", None, "llama_3"]),
                status=rng.choice([200, 201, 302, 400, 429, 500]),
                cache_status=rng.choice(["HIT", "MISS", ""]),
                tokens_in=rng.choice([None, 3, 40, 700]),
                tokens_out=rng.choice([None, 0, 12, 300]),
                cost_usd=rng.choice([None, 0.0, 0.0004, 0.02]),
                latency_ms=rng.choice([12.5, 480.0, 2_000.25]),
                metadata=rng.choice(METADATA),
                feedback=(None, -1, None, 0, 1)[n % 5],  # apart from rng: the other fields stay as they were
            )
        )
    rng.shuffle(records)
    return records


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)


def field_of(r: LogRecord, field: LogField) -> Any:
    return {
        "id": r.id,
        "ts": r.ts,
        "provider": r.provider,
        "model": r.model,
        "endpoint": r.endpoint,
        "success": 200 <= r.status < 400,
        "cached": r.cache_status == "HIT",
        "cost_usd": r.cost_usd,
        "tokens": (r.tokens_in or 0) + (r.tokens_out or 0),
        "tokens_in": r.tokens_in,
        "tokens_out": r.tokens_out,
        "latency_ms": r.latency_ms,
        "feedback": r.feedback,
        "text": " ".join(
            [r.model or "", r.provider, r.endpoint, *r.metadata, *map(_text, r.metadata.values())]
        ),
    }[field]


def compare(value: Any, op: str, values: tuple[LogValue, ...]) -> bool:
    present = [v for v in values if v is not None]
    if op == "eq":
        return value in present if value is not None else None in values
    if op == "neq":
        return value not in present if value is not None else None not in values
    if op == "contains":
        return value is not None and any(str(v).lower() in value.lower() for v in present)
    if value is None:
        return False
    bound = present[0]
    return {"lt": value < bound, "gt": value > bound, "le": value <= bound, "ge": value >= bound}[op]


def holds(r: LogRecord, condition: LogCondition) -> bool:
    if condition.field in ("metadata_key", "metadata_value"):
        items = (
            list(r.metadata) if condition.field == "metadata_key" else [_text(v) for v in r.metadata.values()]
        )
        if condition.op == "neq":
            return not any(compare(item, "eq", condition.values) for item in items)
        return any(compare(item, condition.op, condition.values) for item in items)
    return compare(field_of(r, condition.field), condition.op, condition.values)


def selected(records: list[LogRecord], query: LogQuery) -> list[LogRecord]:
    """What `query` selects, in its order, before limit and offset."""
    chosen = [
        r
        for r in records
        if r.account == query.account
        and (query.gateway is None or r.gateway == query.gateway)
        and all(holds(r, c) for c in query.conditions)
    ]
    field, descending = query.order or ("id", True)
    by_id = sorted(chosen, key=lambda r: r.id, reverse=descending)
    present = [r for r in by_id if field_of(r, field) is not None]
    missing = [r for r in by_id if field_of(r, field) is None]  # missing values last, either way
    return sorted(present, key=lambda r: field_of(r, field), reverse=descending) + missing


CONDITIONS: list[tuple[LogCondition, ...]] = [
    (LogCondition("model", "eq", ("gpt-4o", "claude-sonnet")),),
    (LogCondition("model", "eq", (None,)),),
    (LogCondition("model", "neq", ("gpt-4o",)),),
    (LogCondition("model", "neq", (None, "gpt-4o")),),
    (LogCondition("model", "contains", ("GPT",)),),
    (LogCondition("model", "contains", ("_",)),),  # a character, not a LIKE wildcard
    (LogCondition("model", "contains", ("%",)),),
    (LogCondition("provider", "contains", ("anth", "work")),),
    (LogCondition("success", "eq", (True,)),),
    (LogCondition("success", "eq", (False,)),),
    (LogCondition("cached", "eq", (True,)),),
    (LogCondition("cached", "neq", (True,)),),
    (LogCondition("cost_usd", "gt", (0.001,)),),
    (LogCondition("cost_usd", "le", (0.0004,)),),
    (LogCondition("cost_usd", "eq", (0.0,)),),
    (LogCondition("tokens", "gt", (100,)),),
    (LogCondition("tokens", "lt", (12.5,)),),  # a fraction against whole numbers
    (LogCondition("tokens_in", "lt", (50,)),),
    (LogCondition("tokens_out", "ge", (12,)),),
    (LogCondition("latency_ms", "lt", (500,)),),
    (LogCondition("ts", "ge", (T0 + DAY,)),),
    (LogCondition("ts", "lt", (T0 + DAY,)),),
    (LogCondition("metadata_key", "eq", ("team",)),),
    (LogCondition("metadata_key", "neq", ("team",)),),
    (LogCondition("metadata_key", "contains", ("EA",)),),
    (LogCondition("metadata_value", "eq", ("search",)),),
    (LogCondition("metadata_value", "eq", ("2",)),),
    (LogCondition("metadata_value", "eq", ("2.5",)),),
    (LogCondition("metadata_value", "eq", ("true",)),),
    (LogCondition("metadata_value", "contains", ("AN",)),),
    (LogCondition("feedback", "eq", (1,)),),
    (LogCondition("feedback", "eq", (None, 0)),),  # nobody rated it, or someone said "not evaluated"
    (LogCondition("feedback", "neq", (-1,)),),
    (LogCondition("feedback", "lt", (1,)),),
    (LogCondition("text", "contains", ("search",)),),
    (LogCondition("text", "contains", ("claude",)),),
    (
        LogCondition("success", "eq", (True,)),
        LogCondition("cost_usd", "gt", (0.0,)),
        LogCondition("metadata_key", "eq", ("team", "owner")),
    ),
]


@pytest.mark.parametrize("conditions", CONDITIONS, ids=lambda cs: "&".join(f"{c.field}-{c.op}" for c in cs))
async def test_each_condition_selects_what_it_says(
    database: Backend, conditions: tuple[LogCondition, ...]
) -> None:
    records = corpus()
    await database.write_logs(records)
    query = LogQuery(account="local", gateway="default", conditions=conditions, limit=1000)
    want = [r.id for r in selected(records, query)]
    assert [r.id for r in await database.query_logs(query)] == want
    assert await database.count_matching_logs(replace(query, limit=3)) == len(want)
    assert want or conditions[0].values in (("%",),)  # the rest select some


@pytest.mark.parametrize("field", sorted(LOG_ORDER_FIELDS))
async def test_each_order_pages_through_every_record_once(database: Backend, field: LogField) -> None:
    records = corpus()
    await database.write_logs(records)
    for descending in (True, False):
        query = LogQuery(account="local", order=(field, descending), limit=7)
        want = [r.id for r in selected(records, query)]
        pages = [
            [r.id for r in await database.query_logs(replace(query, offset=offset))]
            for offset in range(0, len(want) + 7, 7)
        ]
        assert [i for page in pages for i in page] == want
        assert pages[-1] == []


async def test_delete_matching_removes_what_is_selected_and_nothing_else(database: Backend) -> None:
    records = corpus()
    await database.write_logs(records)
    costly = LogQuery(account="local", gateway="prod", conditions=(LogCondition("cost_usd", "gt", (0.001,)),))
    doomed = {r.id for r in selected(records, costly)}
    assert doomed
    assert await database.delete_matching_logs(replace(costly, limit=-1)) == len(doomed)

    oldest_two = LogQuery(account="local", gateway="prod", order=("ts", False), limit=2)
    doomed |= {r.id for r in selected([r for r in records if r.id not in doomed], oldest_two)[:2]}
    assert await database.delete_matching_logs(oldest_two) == 2

    left = {r.id for r in await database.query_logs(LogQuery(account="local", limit=1000))}
    left |= {r.id for r in await database.query_logs(LogQuery(account="acme", limit=1000))}
    assert left == {r.id for r in records} - doomed
