"""Analytics: each backend's queries against a brute-force count, then the HTTP API through a gateway.

Every test that takes `backend` (directly, or through `database` or `make_gateway`) runs on SQLite
and on PostgreSQL (+ Redis for the gateway); the few about one backend's schema say so in their name.
"""

from __future__ import annotations

import asyncio
import math
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from sluicegate.analytics import COUNTERS, AnalyticsQuery, AnalyticsResult
from sluicegate.storage import postgres_rollups
from sluicegate.storage.base import LogRecord
from sluicegate.storage.postgres import PostgresDatabase
from sluicegate.storage.sqlite import SqliteDatabase
from tests.conftest import RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.openai_server import FakeOpenAI

Backend = SqliteDatabase | PostgresDatabase

START = 1_800_000_000.0
MESSAGES = [{"role": "user", "content": "count me"}]
CHAT = "/v1/local/{gateway}/{provider}/chat/completions"
ANALYTICS = "/api/v1/accounts/local/analytics"


def synthetic(
    count: int, seed: int = 7, span: float = 3 * 86400, own_answers: bool = True
) -> list[LogRecord]:
    """`own_answers`: every tenth record is one the gateway answered itself (no `upstream_status`),
    besides cache hits and rate-limited ones."""
    rnd = random.Random(seed)
    records = []
    for i in range(count):
        cache = rnd.choice(["HIT", "MISS", "", "BYPASS"])
        status = rnd.choice([200, 200, 200, 400, 429, 500, 503])
        rate_limited = status == 429 and rnd.random() < 0.7
        answered = cache != "HIT" and not rate_limited and not (own_answers and i % 10 == 0)
        records.append(
            LogRecord(
                id=f"{i:08d}", ts=START + rnd.uniform(0, span),
                account=rnd.choice(["local", "local", "other"]), gateway=rnd.choice(["a", "b"]),
                provider=rnd.choice(["openai", "anthropic"]), endpoint="chat/completions", method="POST",
                model=rnd.choice(["m1", "m2", None]), stream=False,
                status=status, latency_ms=rnd.lognormvariate(5, 1.2), ttfb_ms=None,
                tokens_in=rnd.choice([None, rnd.randint(1, 500)]), tokens_out=rnd.randint(0, 300),
                cost_usd=rnd.choice([None, rnd.uniform(0, 0.01)]), cache_status=cache,
                cache_saved_ms=rnd.uniform(10, 900) if cache == "HIT" else None,
                rate_limited=rate_limited, upstream_status=status if answered else None,
            )
        )  # fmt: skip
    return records


def expected(records: list[LogRecord], query: AnalyticsQuery) -> dict[str, Any]:
    """The figures counted one record at a time."""
    chosen = [
        r
        for r in records
        if r.account == query.account
        and query.since <= r.ts < query.until
        and (query.gateways is None or r.gateway in query.gateways)
        and query.provider in (None, r.provider)
        and query.model in (None, r.model)
    ]
    hits = [r for r in chosen if r.cache_status == "HIT"]
    return {
        "requests": len(chosen),
        "errors_4xx": sum(400 <= r.status < 500 for r in chosen),
        "errors_5xx": sum(r.status >= 500 for r in chosen),
        "tokens_in": sum(r.tokens_in or 0 for r in chosen),
        "tokens_out": sum(r.tokens_out or 0 for r in chosen),
        "cost_usd": sum(r.cost_usd or 0 for r in chosen),
        "cache_hits": len(hits),
        "semantic_hits": 0,
        "cache_misses": sum(r.cache_status == "MISS" for r in chosen),
        "tokens_from_cache": sum((r.tokens_in or 0) + (r.tokens_out or 0) for r in hits),
        "time_saved_ms": sum(r.cache_saved_ms or 0 for r in chosen),
        "rate_limited": sum(r.rate_limited for r in chosen),
        "origin": sorted(r.latency_ms for r in chosen if r.upstream_status is not None),
    }


def assert_adds_up(result: AnalyticsResult | dict[str, Any]) -> None:
    data = result.model_dump(by_alias=True) if isinstance(result, AnalyticsResult) else result
    for name in COUNTERS:
        assert data["totals"][name] == pytest.approx(sum(point[name] for point in data["series"])), name


def assert_percentiles(latency: Any, origin: list[float]) -> None:
    assert latency.requests == len(origin)
    for name, p in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)):
        exact = origin[max(1, math.ceil(p * len(origin) - 1e-9)) - 1]
        assert getattr(latency, name) == pytest.approx(exact, rel=0.026), name


@pytest.fixture
def make_database(
    backend: str,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Callable[[], Backend]:
    """New, unopened instances over one store: SQLite's file, or a PostgreSQL schema of the test's own."""
    if backend == "scaled":
        url = request.getfixturevalue("postgres_url")
        return lambda: PostgresDatabase(url)
    return lambda: SqliteDatabase(tmp_path / "analytics.db")


@pytest.fixture
async def database(make_database: Callable[[], Backend]) -> Any:
    database = make_database()
    await database.open()
    yield database
    await database.close()


QUERIES = [
    pytest.param({"since": START, "until": START + 3 * 86400, "interval": "hour"}, id="aligned-hours"),
    pytest.param(
        {"since": START + 17.3, "until": START + 2 * 86400 + 3601.7, "interval": "hour"}, id="ragged"
    ),
    pytest.param({"since": START - 86400, "until": START + 5 * 86400, "interval": "day"}, id="days"),
    pytest.param({"since": START + 4000.5, "until": START + 9000, "interval": "minute"}, id="minutes"),
    pytest.param(
        {"since": START, "until": START + 86400, "interval": "hour", "provider": "openai"}, id="provider"
    ),
    pytest.param({"since": START, "until": START + 86400, "interval": "hour", "model": "m2"}, id="model"),
    pytest.param(
        {"since": START + 30, "until": START + 86400, "interval": "day", "gateways": ("b",)}, id="gateway"
    ),
]


@pytest.mark.parametrize("window", QUERIES)
async def test_figures_equal_a_count_of_the_records(database: Backend, window: dict[str, Any]) -> None:
    records = synthetic(3000)
    for i in range(0, len(records), 250):  # batches, as the logbook writes them
        await database.write_logs(records[i : i + 250])
    query = AnalyticsQuery(account="local", **window)
    result = await database.analytics(query)
    want = expected(records, query)
    for name in COUNTERS:
        assert getattr(result.totals, name) == pytest.approx(want[name]), name
    assert_percentiles(result.totals.latency, want["origin"])
    assert_adds_up(result)
    assert result.series[0].start <= query.since < result.series[0].start + query.step
    assert result.series[-1].start < query.until <= result.series[-1].start + query.step


async def test_each_bucket_counts_its_own_records(database: Backend) -> None:
    records = synthetic(2000, seed=3, span=6 * 3600)
    await database.write_logs(records)
    query = AnalyticsQuery(account="local", since=START + 45.5, until=START + 6 * 3600 - 12, interval="hour")
    result = await database.analytics(query)
    for point in result.series:
        bucket = query.model_copy(
            update={"since": max(point.start, query.since), "until": min(point.start + 3600, query.until)}
        )
        want = expected(records, bucket)
        assert (point.requests, point.errors_5xx, point.tokens_in) == (
            want["requests"],
            want["errors_5xx"],
            want["tokens_in"],
        )
        assert_percentiles(point.latency, want["origin"])


async def test_an_empty_range_is_zeros(database: Backend) -> None:
    await database.write_logs(synthetic(100))
    nothing = await database.analytics(
        AnalyticsQuery(account="local", since=START - 7200, until=START - 3600, interval="minute")
    )
    assert len(nothing.series) == 60
    assert nothing.totals.requests == sum(p.requests for p in nothing.series) == 0
    assert nothing.totals.latency.p50 is None
    instant = await database.analytics(
        AnalyticsQuery(account="local", since=START, until=START, interval="hour")
    )
    assert (instant.series, instant.totals.requests) == ([], 0)
    nobody = await database.analytics(
        AnalyticsQuery(account="nobody", since=START, until=START + 86400, interval="hour")
    )
    assert nobody.totals.requests == 0
    assert nobody.providers == []


async def test_a_range_beyond_bigint_is_zeros_postgres(postgres_url: str) -> None:
    """A valid query (10 points) whose bounds no BIGINT holds. (SQLite raises OverflowError here.)"""
    database = PostgresDatabase(postgres_url)
    await database.open()
    try:
        await database.write_logs(synthetic(100))
        far = await database.analytics(
            AnalyticsQuery(account="local", since=1e19, until=1e19 + 10 * 86400, interval="day")
        )
        assert far.totals.requests == sum(p.requests for p in far.series) == 0
        assert len(far.series) in (10, 11)
    finally:
        await database.close()


async def test_duplicate_records_are_counted_once(database: Backend) -> None:
    records = synthetic(50)
    await database.write_logs(records)
    await database.write_logs(records[:20])  # the insert ignores known ids; so do the rollups
    await database.write_logs(records[40:] + synthetic(60)[50:])  # some known, some new
    result = await database.analytics(
        AnalyticsQuery(account="local", since=START, until=START + 4 * 86400, interval="day")
    )
    assert result.totals.requests == expected(synthetic(60), result_query(result))["requests"]


async def test_concurrent_batches_add_up(database: Backend) -> None:
    """Batches written at once (on PostgreSQL: concurrent transactions on the same roll-up rows,
    some repeating records another batch is writing) count every record once."""
    records = synthetic(3000, seed=11, span=2 * 3600)
    batches = [records[i : i + 200] for i in range(0, len(records), 200)]
    retried = [records[i + 100 : i + 300] for i in range(0, len(records) - 300, 600)]
    await asyncio.gather(*(database.write_logs(batch) for batch in batches + retried))
    query = AnalyticsQuery(account="local", since=START - 1, until=START + 3 * 3600, interval="minute")
    result = await database.analytics(query)
    want = expected(records, query)
    for name in COUNTERS:
        assert getattr(result.totals, name) == pytest.approx(want[name]), name
    assert_percentiles(result.totals.latency, want["origin"])
    assert_adds_up(result)


async def test_deleted_records_stay_in_the_analytics(database: Backend) -> None:
    """Retention deletes records, not the roll-ups: whole minutes still count them (the sub-minute
    ends of a range are read from the records, and lose them)."""
    records = synthetic(1000)
    await database.write_logs(records)
    query = AnalyticsQuery(account="local", since=START - 3600, until=START + 4 * 86400, interval="day")
    before = await database.analytics(query)
    for gateway in ("a", "b"):
        assert await database.delete_logs("local", gateway, before=START + 86400, keep_newest=None) > 0
    if isinstance(database, PostgresDatabase):
        assert await database.drop_logs_before(START + 2 * 86400) > 0  # whole day partitions
    assert_same((await database.analytics(query)).model_dump(), before.model_dump())


def result_query(result: AnalyticsResult) -> AnalyticsQuery:
    return AnalyticsQuery(
        account=result.account, since=result.since, until=result.until, interval=result.interval
    )


def rebuild_rollups(path: Path, *sql: str) -> None:
    """Drop the rollup tables (and run `sql` first), as a database from before analytics would be."""
    connection = sqlite3.connect(path)
    for statement in sql:
        connection.execute(statement)
    connection.execute("DROP TABLE analytics_rollup")
    connection.execute("DROP TABLE latency_rollup")
    connection.commit()
    connection.close()


ROLLUP_MIGRATION = 3  # PostgreSQL's schema version that adds the roll-ups


async def execute_postgres(url: str, *sql: str) -> None:
    """Run statements in the schema of `url` (a `?schema=` URL of `postgres_url`)."""
    parts = urlsplit(url)
    schema = parts.query.rsplit("schema=", 1)[1]
    connection = await asyncpg.connect(urlunsplit(parts._replace(query="")))
    try:
        await connection.execute(f'SET search_path TO "{schema}"')
        for statement in sql:
            await connection.execute(statement)
    finally:
        await connection.close()


async def test_existing_logs_are_rolled_up_at_open(
    make_database: Callable[[], Backend], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # PostgreSQL's roll-up migration counts the origin latency of every request but cache hits and
    # rate-limited ones, as it did before records said whether an upstream answered.
    records = synthetic(800, own_answers=False)
    database = make_database()
    await database.open()
    await database.write_logs(records)
    query = AnalyticsQuery(account="local", since=START + 99, until=START + 2 * 86400, interval="hour")
    before = await database.analytics(query)
    await database.close()

    if isinstance(database, PostgresDatabase):  # back to the version before analytics: migrate again
        await execute_postgres(
            request.getfixturevalue("postgres_url"),
            f"DROP TABLE {', '.join(postgres_rollups.TABLES)}",
            f"DELETE FROM schema_migrations WHERE version = {ROLLUP_MIGRATION}",
        )
    else:
        rebuild_rollups(tmp_path / "analytics.db")
    database = make_database()
    await database.open()
    try:
        assert_same((await database.analytics(query)).model_dump(), before.model_dump())
    finally:
        await database.close()


def assert_same(one: Any, other: Any) -> None:
    """Equal, but for the last bits of float sums added up in another order."""
    if isinstance(one, dict):
        assert one.keys() == other.keys()
        for key in one:
            assert_same(one[key], other[key])
    elif isinstance(one, list):
        assert len(one) == len(other)
        for a, b in zip(one, other, strict=True):
            assert_same(a, b)
    elif isinstance(one, float):
        assert one == pytest.approx(other)
    else:
        assert one == other


async def test_semantic_hits_come_from_the_logs_column_once_it_exists_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "semantic.db"
    database = SqliteDatabase(path)
    await database.open()
    await database.write_logs(synthetic(300))
    await database.close()
    rebuild_rollups(path, "UPDATE logs SET semantic_hit = 1 WHERE cache_status = '' AND rowid % 2 = 0")
    database = SqliteDatabase(path)
    await database.open()
    try:
        result = await database.analytics(
            AnalyticsQuery(account="local", since=START, until=START + 4 * 86400, interval="day")
        )
        connection = sqlite3.connect(path)
        semantic = connection.execute(
            "SELECT count(*) FROM logs WHERE account = 'local' AND semantic_hit = 1"
        ).fetchone()[0]
        connection.close()
        assert result.totals.semantic_hits == semantic > 0
        assert_adds_up(result)
    finally:
        await database.close()


async def test_semantic_hits_come_from_the_logs_column_once_it_exists_postgres(postgres_url: str) -> None:
    """The semantic cache's column of `logs` is counted in every batch (set here by a trigger)."""
    database = PostgresDatabase(postgres_url)
    await database.open()
    await database.close()
    await execute_postgres(  # as the semantic cache will: a column of `logs`, set by the insert
        postgres_url,
        "CREATE FUNCTION mark() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " NEW.semantic_hit := NEW.cache_status = '' AND NEW.id::bigint % 2 = 0;"
        " IF NEW.semantic_hit THEN NEW.upstream_status := NULL; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER mark BEFORE INSERT ON logs FOR EACH ROW EXECUTE FUNCTION mark()",
    )
    database = PostgresDatabase(postgres_url)
    await database.open()
    try:
        records = synthetic(300)
        await database.write_logs(records)
        await database.write_logs(records[:10])  # duplicates, through the slower insert
        result = await database.analytics(
            AnalyticsQuery(account="local", since=START, until=START + 4 * 86400, interval="day")
        )
        semantic = [
            r for r in records if r.account == "local" and r.cache_status == "" and int(r.id) % 2 == 0
        ]
        assert result.totals.semantic_hits == len(semantic) > 0
        hits = [r for r in records if r.account == "local" and r.cache_status == "HIT"] + semantic
        assert result.totals.tokens_from_cache == sum((r.tokens_in or 0) + (r.tokens_out or 0) for r in hits)
        origin = [r for r in records if r.account == "local" and r not in hits and r.upstream_status]
        assert result.totals.latency.requests == len(origin)
        assert_adds_up(result)
    finally:
        await database.close()


@pytest.mark.parametrize("window", QUERIES)
async def test_postgres_answers_as_sqlite_does(
    tmp_path: Path, postgres_url: str, window: dict[str, Any]
) -> None:
    """The same records in both: the same figures, to the last bit but for float sums' order."""
    records = synthetic(3000, seed=5)
    answers = []
    for database in (SqliteDatabase(tmp_path / "same.db"), PostgresDatabase(postgres_url)):
        await database.open()
        try:
            for i in range(0, len(records), 500):
                await database.write_logs(records[i : i + 500])
            answers.append((await database.analytics(AnalyticsQuery(account="local", **window))).model_dump())
        finally:
            await database.close()
    sqlite, postgres = answers
    assert_same(postgres, sqlite)
    latencies = [
        (p["latency"], q["latency"]) for p, q in zip(postgres["series"], sqlite["series"], strict=True)
    ]
    assert all(p == q for p, q in latencies)  # percentiles: exactly equal, not merely close
    assert postgres["totals"]["latency"] == sqlite["totals"]["latency"]


@pytest.mark.parametrize("by", ["route", "target"])
async def test_groups_by_route_and_target_equal_a_count_of_the_routed_records(
    database: Backend, by: str
) -> None:
    records = synthetic(2000, seed=11)
    rnd = random.Random(5)
    for record in records:  # a third unrouted; the rest through two routes, at two versions
        if rnd.random() < 2 / 3:
            record.metadata = {"route": rnd.choice(["support@1", "support@2", "batch"]), "user": "u"}
    await database.write_logs(records)
    query = AnalyticsQuery(account="local", since=START, until=START + 2 * 86400, interval="hour", by=by)
    result = await database.analytics(query)

    def key(r: LogRecord) -> str | None:
        if by == "route":
            return str(r.metadata["route"]).split("@")[0]
        return None if r.model is None else f"{r.provider}/{r.model}"

    routed = [
        r
        for r in records
        if r.account == "local" and query.since <= r.ts < query.until and "route" in r.metadata
    ]
    want: dict[str, list[LogRecord]] = {}
    for r in routed:
        if (k := key(r)) is not None:
            want.setdefault(k, []).append(r)
    assert result.by == by
    assert [g.key for g in result.groups] == sorted(want, key=lambda k: (-len(want[k]), k))
    for group in result.groups:
        mine = want[group.key]
        assert group.requests == len(mine)
        assert (group.errors_4xx, group.errors_5xx) == (
            sum(400 <= r.status < 500 for r in mine),
            sum(r.status >= 500 for r in mine),
        )
        assert (group.tokens_in, group.tokens_out) == (
            sum(r.tokens_in or 0 for r in mine),
            sum(r.tokens_out or 0 for r in mine),
        )
        assert group.cost_usd == pytest.approx(sum(r.cost_usd or 0 for r in mine))
        assert group.mean_latency_ms == pytest.approx(sum(r.latency_ms for r in mine) / len(mine))
    assert (await database.analytics(query.model_copy(update={"by": None}))).groups == []


# The HTTP API, through a running gateway.


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def chat(
    gateway: RunningGateway, model: str = "gpt-4o-mini", slug: str = "default", provider: str = "openai"
) -> int:
    response = gateway.http.post(
        CHAT.format(gateway=slug, provider=provider), json={"model": model, "messages": MESSAGES}
    )
    return response.status_code


def analytics(running: RunningGateway, **params: Any) -> dict[str, Any]:
    response = running.http.get(ANALYTICS, params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    assert_adds_up(data)
    return data


def last_hour() -> dict[str, float]:
    now = time.time()
    return {"from": now - 3600, "to": now + 60}


def test_requests_through_the_gateway_are_counted(gateway: RunningGateway) -> None:
    # Cache hits are not counted against the limit: the 429 is the fifth request's.
    settings = {"cache_enabled": True, "rate_limits": [{"limit": 2, "period": 3600}]}
    assert gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": settings}
    ).is_success
    statuses = [chat(gateway) for _ in range(3)] + [chat(gateway, "error-500"), chat(gateway, "other")]
    assert statuses == [200, 200, 200, 500, 429]
    records = gateway.wait_for_logs(5)

    data = analytics(gateway, **last_hour())
    totals = data["totals"]
    assert data["interval"] == "minute"
    assert totals["requests"] == 5
    assert (totals["errors_4xx"], totals["errors_5xx"], totals["rate_limited"]) == (1, 1, 1)
    misses = sum(r["cache_status"] == "MISS" for r in records)
    assert (totals["cache_hits"], totals["cache_misses"], totals["semantic_hits"]) == (2, misses, 0)
    assert totals["tokens_in"] == sum(r["tokens_in"] or 0 for r in records)
    hits = [r for r in records if r["cache_status"] == "HIT"]
    assert totals["tokens_from_cache"] == sum(r["tokens_in"] + r["tokens_out"] for r in hits) > 0
    assert totals["time_saved_ms"] == pytest.approx(sum(r["cache_saved_ms"] for r in hits))
    assert totals["cost_usd"] == pytest.approx(sum(r["cost_usd"] or 0 for r in records))
    origin = sorted(r["latency_ms"] for r in records if r["cache_status"] != "HIT" and not r["rate_limited"])
    assert totals["latency"]["requests"] == len(origin) == 2
    assert origin[0] <= totals["latency"]["p50"] <= totals["latency"]["p99"] <= origin[-1]
    assert data["providers"] == ["openai"]
    assert data["models"] == ["error-500", "gpt-4o-mini", "other"]


def test_filters_narrow_the_count(gateway: RunningGateway) -> None:
    assert gateway.http.post("/api/v1/accounts/local/gateways", json={"name": "second"}).status_code == 201
    assert [chat(gateway), chat(gateway, "gpt-4o"), chat(gateway, slug="second")] == [200, 200, 200]
    assert chat(gateway, provider="not-a-provider") == 404
    gateway.wait_for_logs(3)
    gateway.wait_for_logs(1, gateway="second")
    window = last_hour()
    assert analytics(gateway, **window)["totals"]["requests"] == 4
    assert analytics(gateway, **window, provider="openai")["totals"]["requests"] == 3
    assert analytics(gateway, **window, model="gpt-4o")["totals"]["requests"] == 1
    assert analytics(gateway, **window, gateway="second")["totals"]["requests"] == 1
    assert analytics(gateway, **window, gateway="default", provider="openai")["totals"]["requests"] == 2
    assert analytics(gateway, **window, provider="nobody")["totals"]["requests"] == 0


def test_dynamic_routes_group_by_route_and_by_the_target_that_answered(gateway: RunningGateway) -> None:
    routes = {
        "ab": {
            "split": [
                {"weight": 1, "then": {"model": "openai/left"}},
                {"weight": 1, "then": {"model": "openai/right"}},
            ]
        },
        "safe": {"fallback": [{"model": "openai/error-503"}, {"model": "openai/steady"}]},
    }
    assert gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": {"routes": routes}}
    ).is_success
    compat = CHAT.format(gateway="default", provider="compat")
    for model in ["dynamic/ab"] * 6 + ["dynamic/safe"] * 2:
        answer = gateway.http.post(compat, json={"model": model, "messages": MESSAGES})
        assert answer.status_code == 200, answer.text
    assert chat(gateway) == 200  # not routed: in neither grouping
    records = gateway.wait_for_logs(9)

    by_route = analytics(gateway, **last_hour(), by="route")
    assert [(g["key"], g["requests"]) for g in by_route["groups"]] == [("ab", 6), ("safe", 2)]
    assert by_route["totals"]["requests"] == 9
    by_target = analytics(gateway, **last_hour(), by="target")
    answered = Counter(f"openai/{r['model']}" for r in records if r["metadata"].get("route"))
    assert {g["key"]: g["requests"] for g in by_target["groups"]} == answered
    assert answered["openai/steady"] == 2
    assert answered["openai/left"] + answered["openai/right"] == 6
    refused = gateway.http.get(ANALYTICS, params={"by": "routes"})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "by"
    assert "route, target" in refused.json()["error"]["message"]


def test_empty_ranges_are_zeros(gateway: RunningGateway) -> None:
    assert chat(gateway) == 200
    gateway.wait_for_logs(1)
    now = time.time()
    days_ago = now // 86400 * 86400 - 3 * 86400
    past = analytics(gateway, **{"from": days_ago, "to": days_ago + 86400})
    assert past["interval"] == "hour"
    assert len(past["series"]) == 24
    assert past["totals"]["requests"] == 0
    assert past["totals"]["latency"] == {"requests": 0, "p50": None, "p90": None, "p95": None, "p99": None}
    # Older than hour roll-ups are kept (docs/analytics.md): the interval chosen is a day.
    old = analytics(gateway, **{"from": "2020-01-01T00:00:00+00:00", "to": "2020-01-02T00:00:00+00:00"})
    assert (old["interval"], len(old["series"]), old["totals"]["requests"]) == ("day", 1, 0)
    instant = analytics(gateway, **{"from": now, "to": now})
    assert (instant["series"], instant["totals"]["requests"]) == ([], 0)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "nan"}, "from"),
        ({"to": "inf"}, "to"),
        ({"from": "200", "to": "100"}, "from"),
        ({"interval": "week"}, "interval"),
        ({"from": "0", "to": "100000000", "interval": "minute"}, "from"),  # 1157 days: too long by day too
        ({"from": "-1e300", "interval": "minute"}, "from"),
    ],
)
def test_bad_parameters_are_400(gateway: RunningGateway, params: dict[str, str], param: str) -> None:
    response = gateway.http.get(ANALYTICS, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


MIDNIGHT = 1_799_971_200  # a UTC midnight: every interval's buckets start on it


@pytest.mark.parametrize(
    ("span", "interval", "points"),
    [(3600, "minute", 60), (6 * 3600, "minute", 360), (2 * 86400, "hour", 48), (30 * 86400, "day", 30)],
)
def test_interval_is_chosen_from_the_range(
    gateway: RunningGateway, span: int, interval: str, points: int
) -> None:
    data = analytics(gateway, **{"from": MIDNIGHT - span, "to": MIDNIGHT})
    assert (data["interval"], len(data["series"])) == (interval, points)
    step = data["interval_seconds"]
    assert [p["start"] for p in data["series"][:2]] == [MIDNIGHT - span, MIDNIGHT - span + step]
    assert (data["from"], data["to"]) == (MIDNIGHT - span, MIDNIGHT)
    ragged = analytics(gateway, **{"from": MIDNIGHT - span + 1, "to": MIDNIGHT + 1})
    assert len(ragged["series"]) == points + 1  # the cut first and last buckets are both listed


def test_an_explicit_interval_and_the_default_range(gateway: RunningGateway) -> None:
    data = analytics(gateway, interval="day")
    assert data["interval"] == "day"
    assert data["to"] - data["from"] == pytest.approx(86400)
    assert abs(data["to"] - time.time()) < 60
    assert len(data["series"]) in (1, 2)  # the last 24 hours meet one or two UTC days


def test_reading_analytics_needs_a_read_token(gateway: RunningGateway) -> None:
    def token(scopes: list[str], gateways: list[str] | None = None) -> str:
        body = {"name": "t", "scopes": scopes, "gateways": gateways}
        response = gateway.http.post("/api/v1/accounts/local/tokens", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    assert gateway.http.post("/api/v1/accounts/local/gateways", json={"name": "second"}).status_code == 201
    assert [chat(gateway), chat(gateway, slug="second")] == [200, 200]
    gateway.wait_for_logs(1)
    gateway.wait_for_logs(1, gateway="second")
    url = gateway.url + ANALYTICS
    with_token = lambda secret, **params: gateway.http.get(  # noqa: E731
        url, params={**last_hour(), **params}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert gateway.http.get(url, headers={"Authorization": ""}).status_code == 401
    assert with_token(token(["run"])).status_code == 403
    assert with_token(token(["read"])).json()["totals"]["requests"] == 2
    limited = token(["read"], gateways=["second"])
    answer = with_token(limited).json()
    assert (answer["totals"]["requests"], answer["gateways"]) == (1, ["second"])
    assert with_token(limited, gateway="default").status_code == 403


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"from": "1e19", "to": "1.0000001e19"}, "to"),
        ({"interval": "minute", "from": "1800000000", "to": "1800086400"}, "interval"),
    ],
)
def test_out_of_range_times_and_too_many_points_are_400s(
    gateway: RunningGateway, params: dict[str, str], param: str
) -> None:
    response = gateway.http.get("/api/v1/accounts/local/analytics", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
