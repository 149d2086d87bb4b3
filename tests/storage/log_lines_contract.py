"""Spool lines stored as they are (`write_log_lines`: parsed by PostgreSQL, made into rows with
orjson for SQLite) read back as the records the Python way (`write_logs` of parsed records)
stores, on every backend, roll-ups included.

Not collected itself: tests/storage/test_sqlite_database.py runs every test here on SQLite,
tests/integration/backends/test_postgres_database.py on PostgreSQL, with the slow tier.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

from sluicegate.analytics import AnalyticsQuery
from sluicegate.logbook import Logbook
from sluicegate.logformat import fast_record_line, record_line
from sluicegate.spool import Spool
from sluicegate.storage.base import LogQuery, LogRecord
from tests.storage.database_contract import DAY, T0, Backend, record


def varied(rng: random.Random, gateway: str, n: int) -> list[LogRecord]:
    """Records using every shape a field can take: None and not, bodies that are UTF-8, binary
    (stored as base64 in the line), text starting with `base64:`, quotes and non-ASCII."""
    made = []
    bodies: list[bytes | None] = [
        None, b"", b'{"messages": [{"role": "user", "content": "h\\u00e9 \\"q\\""}]}', "héllo ✓".encode(),
        bytes(range(1, 256)), b"base64:not really", b"\xff\xfe\x80", b"line\nbreak\ttab",
    ]  # fmt: skip
    for _ in range(n):
        maybe = rng.random() < 0.5
        fields: dict[str, Any] = {
            "ts": T0 + rng.uniform(0, 2 * DAY),
            "gateway": gateway,
            "model": rng.choice([None, "gpt-4o-mini", "claude-3-5-haiku"]),
            "stream": rng.random() < 0.5,
            "status": rng.choice([200, 200, 429, 500]),
            "latency_ms": rng.uniform(0, 5000),
            "ttfb_ms": rng.uniform(0, 100) if maybe else None,
            "tokens_in": rng.randrange(10_000) if maybe else None,
            "tokens_out": rng.randrange(10_000) if maybe else None,
            "cached_tokens": rng.randrange(100) if maybe else None,
            "usage_estimated": rng.random() < 0.5,
            "cost_usd": rng.random() / 7 if maybe else None,
            "unpriced": not maybe,
            "cache_status": rng.choice(["", "HIT", "MISS"]),
            "cache_source": rng.choice(["", "exact", "semantic"]),
            "cache_saved_ms": rng.uniform(0, 900) if not maybe else None,
            "rate_limited": rng.random() < 0.2,
            "semantic_hit": rng.random() < 0.2,
            "error": rng.choice([None, 'upstream said "no" — ünïcode']),
            "metadata": rng.choice([{}, {"user": "u1", "n": 3, "x": 0.1, "nested": {"a": [1, None, True]}}]),
            "request_headers": {"content-type": "application/json", "authorization": "Bearer ****"},
            "request_body": rng.choice(bodies),
            "response_body": rng.choice(bodies),
            "step": rng.choice([None, 0, 2]),
            "attempts": rng.choice([[], [{"provider": "openai", "status": 500, "latency_ms": 1.5}]]),
            "degraded": rng.choice([None, "stored without bodies"]),
            "feedback": rng.choice([None, -1, 0, 1]),
            "score": rng.choice([None, 42.5]),
            "cache_write_tokens": rng.choice([None, 7]),
            "token_id": rng.choice([None, "tok_1"]),
            "key_name": rng.choice([None, "main"]),
            "semantic_similarity": rng.choice([None, rng.random()]),
            "semantic_verified": rng.choice([None, True, False]),
            "semantic_score": rng.choice([None, rng.random()]),
            "saved_usd": rng.choice([None, rng.random()]),
            "shadow_of": rng.choice([None, "0123abc"]),
            "shadow_agreed": rng.choice([None, True, False]),
            "upstream_status": rng.choice([None, 200, 500]),
        }
        made.append(record(**fields))
    return made


def lines_of(records: list[LogRecord]) -> list[bytes]:
    """Spool lines in both of the spool's formats, without their newlines."""
    return [(record_line(r) if i % 2 else fast_record_line(r)).rstrip(b"\n") for i, r in enumerate(records)]


async def read_back(database: Backend, gateway: str) -> list[LogRecord]:
    query = LogQuery(account="local", gateways=(gateway,), limit=10_000, order=("ts", False))
    return await database.query_logs(query)


def analytics(gateway: str) -> AnalyticsQuery:
    return AnalyticsQuery(account="local", since=T0, until=T0 + 3 * DAY, interval="hour", gateways=(gateway,))


async def test_lines_stored_as_they_are_read_back_as_the_python_way_stores_them(
    database: Backend,
) -> None:
    rng = random.Random(26)
    old = varied(rng, "old", 300)
    new = [replace(r, id="f" + r.id[1:], gateway="new") for r in old]
    await database.write_logs(old)
    assert await database.write_log_lines(lines_of(new))
    stored_old, stored_new = await read_back(database, "old"), await read_back(database, "new")
    assert len(stored_new) == len(new)
    assert [
        replace(r, id=o.id, gateway="old") for r, o in zip(stored_new, stored_old, strict=True)
    ] == stored_old
    assert sorted(stored_new, key=lambda r: r.id) == sorted(new, key=lambda r: r.id)  # as written, too
    old_figures = (await database.analytics(analytics("old"))).model_dump()
    new_figures = (await database.analytics(analytics("new"))).model_dump()
    assert new_figures["totals"] == old_figures["totals"]
    assert new_figures["series"] == old_figures["series"]
    assert old_figures["totals"]["requests"] == 300


async def test_lines_stored_twice_are_stored_and_rolled_up_once(database: Backend) -> None:
    records = varied(random.Random(1), "twice", 40)
    lines = lines_of(records)
    assert await database.write_log_lines(lines[:25])
    assert await database.write_log_lines(lines)  # a segment stored again after a kill
    assert len(await read_back(database, "twice")) == 40
    figures = (await database.analytics(analytics("twice"))).model_dump()
    assert figures["totals"]["requests"] == 40


async def test_a_field_missing_from_a_line_gets_its_default(database: Backend) -> None:
    line = fast_record_line(record(gateway="older", metadata={"k": "v"}))
    assert await database.write_log_lines([line.replace(b',"unpriced":false', b"").rstrip(b"\n")])
    (stored,) = await read_back(database, "older")
    assert stored.unpriced is False
    assert stored.metadata == {"k": "v"}


async def test_a_line_the_database_refuses_stores_nothing(database: Backend) -> None:
    good = fast_record_line(record(gateway="refused")).rstrip(b"\n")
    assert not await database.write_log_lines([good, b'{"id": "x"}'])  # required fields missing
    assert not await database.write_log_lines([good, b"not json"])
    assert not await database.write_log_lines([good, b"[1, 2]"])
    newer = good.replace(b'"id":', b'"from_the_future":1,"id":')
    assert not await database.write_log_lines([good, newer])  # a key that is no field
    modelless = fast_record_line(record(gateway="refused", model=None))
    assert b'"model":null,' in modelless
    assert not await database.write_log_lines([good, modelless.replace(b'"model":null,', b"")])
    assert await read_back(database, "refused") == []


async def test_the_logbook_stores_spooled_lines_and_skips_only_the_bad_one(
    database: Backend, tmp_path: Path
) -> None:
    records = varied(random.Random(7), "spooled", 20)
    spool = Spool(tmp_path / "spool", 1 << 20)
    spool.open()
    for line in lines_of(records[:10]):
        spool.append(line + b"\n")
    spool.append(b'{"not": "a record"}\n')
    for line in lines_of(records[10:]):
        spool.append(line + b"\n")
    logbook = Logbook(database, lambda exchange, outcome: records[0], batch_size=8, interval=60, spool=spool)
    await logbook.flush()
    stored = await read_back(database, "spooled")
    assert sorted(stored, key=lambda r: r.id) == sorted(records, key=lambda r: r.id)
    assert spool.backlog_records == 0
    spool.close()
