"""The `Database` contract: what every backend does alike, as tests that take the `database` fixture
(or `make_database`, a maker of new, unopened instances over one store).

Not collected itself: each backend's module imports every test here and defines `make_database`,
`tests/storage/test_sqlite_database.py` in the fast tier and
`tests/integration/backends/test_postgres_database.py` (with what only PostgreSQL does) after it.
Log queries are checked against a reference filter written here from `LogQuery`'s meaning, so both
backends are held to the same answer, not merely to each other's.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest

from sluicegate.errors import BadRequest, Conflict
from sluicegate.feedback import Feedback
from sluicegate.gateway import GatewaySettings
from sluicegate.storage import postgres as postgres_module
from sluicegate.storage import sqlite as sqlite_module
from sluicegate.storage.base import AuditEntry, CustomProvider, LogQuery, LogRecord, StoredKey
from sluicegate.storage.postgres import PostgresDatabase
from sluicegate.storage.sqlite import SqliteDatabase
from sluicegate.tokens import Scope, Token

Backend = SqliteDatabase | PostgresDatabase
DAY = 86_400
T0 = 1_800_000_000.0 - 1_800_000_000.0 % DAY  # a UTC midnight


@pytest.fixture
async def database(make_database: Callable[[], Backend]) -> AsyncIterator[Backend]:
    backend = make_database()
    await backend.open()
    yield backend
    await backend.close()


_serial = iter(range(1, 1_000_000))


def record(ts: float = T0 + 60, **fields: Any) -> LogRecord:
    """A log record whose id sorts by `ts`, as the gateway's ids do."""
    values: dict[str, Any] = {
        "id": f"{int(ts * 1000):012x}{next(_serial):020x}",
        "ts": ts,
        "account": "local",
        "gateway": "default",
        "provider": "openai",
        "endpoint": "chat/completions",
        "method": "POST",
        "model": "gpt-4o-mini",
        "stream": False,
        "status": 200,
        "latency_ms": 120.5,
        "ttfb_ms": 80.25,
    }
    return LogRecord(**(values | fields))


# ---- gateways


async def test_the_default_gateway_exists_after_open(database: Backend) -> None:
    gateway = await database.get_gateway("local", "default")
    assert gateway is not None
    assert gateway.settings == GatewaySettings()
    assert [g.slug for g in await database.list_gateways("local")] == ["default"]


async def test_gateways_are_created_listed_updated_and_deleted(database: Backend) -> None:
    settings = GatewaySettings(cache_enabled=True, cache_ttl=600)
    created = await database.create_gateway("local", "ab", "Ab", settings)
    assert await database.get_gateway("local", "ab") == created
    for slug in ("a-c", "b", "a0"):
        await database.create_gateway("local", slug, slug.upper(), GatewaySettings())
    await database.create_gateway("acme", "ab", "Acme's", GatewaySettings())
    # Byte order, as SQLite compares: "-" < "0" < "b", whatever the database's collation says.
    assert [g.slug for g in await database.list_gateways("local")] == ["a-c", "a0", "ab", "b", "default"]
    assert [g.name for g in await database.list_gateways("acme")] == ["Acme's"]
    everywhere = sorted((g.account, g.slug) for g in await database.all_gateways())
    assert everywhere == [("acme", "ab")] + [("local", s) for s in ("a-c", "a0", "ab", "b", "default")]

    renamed = await database.update_gateway("local", "ab", "Renamed", None)
    assert renamed is not None
    assert (renamed.name, renamed.settings, renamed.created_at) == ("Renamed", settings, created.created_at)
    resettled = await database.update_gateway("local", "ab", None, GatewaySettings(max_attempts=3))
    assert resettled is not None
    assert (resettled.name, resettled.settings.max_attempts) == ("Renamed", 3)
    assert await database.get_gateway("local", "ab") == resettled
    assert await database.update_gateway("local", "missing", "x", None) is None

    assert await database.delete_gateway("local", "ab")
    assert not await database.delete_gateway("local", "ab")
    assert await database.get_gateway("local", "ab") is None
    assert await database.get_gateway("acme", "ab") is not None


async def test_a_taken_slug_is_a_conflict(database: Backend) -> None:
    await database.create_gateway("local", "prod", "Prod", GatewaySettings())
    with pytest.raises(Conflict):
        await database.create_gateway("local", "prod", "Again", GatewaySettings())
    with pytest.raises(Conflict):
        await database.create_gateway("local", "default", "Default", GatewaySettings())
    assert (await database.get_gateway("local", "prod")).name == "Prod"  # type: ignore[union-attr]


# ---- logs


def corpus() -> list[LogRecord]:
    """Records varied in every field a query filters on, over three days and two accounts."""
    rng = random.Random(7)
    records = []
    for n in range(90):
        records.append(
            record(
                ts=T0 + n * 2_880 + rng.random(),  # 90 records spread over three days
                account=rng.choice(["local", "local", "local", "acme"]),
                gateway=rng.choice(["default", "prod", "dev"]),
                provider=rng.choice(["openai", "anthropic", "workers-ai"]),
                model=rng.choice(["gpt-4o", "claude-sonnet", None, "llama_3"]),
                status=rng.choice([200, 200, 201, 400, 404, 429, 500, 503]),
                cache_status=rng.choice(["HIT", "MISS", ""]),
                feedback=rng.choice([None, None, -1, 0, 1]),
                score=rng.choice([None, 0.0, 12.5, 50, 99.9, 100.0]),
            )
        )
    rng.shuffle(records)  # written out of order: the order of results must come from the ids
    return records


def expected(records: list[LogRecord], query: LogQuery) -> list[str]:
    def matches(r: LogRecord) -> bool:
        checks = [
            r.account == query.account,
            query.gateway is None or r.gateway == query.gateway,
            query.provider is None or r.provider == query.provider,
            query.model is None or r.model == query.model,
            query.since is None or r.ts >= query.since,
            query.until is None or r.ts < query.until,
            query.status_min is None or r.status >= query.status_min,
            query.status_max is None or r.status <= query.status_max,
            query.cached is None or (r.cache_status == "HIT") == query.cached,
            query.cursor is None or r.id < query.cursor,
            query.feedback is None or r.feedback == query.feedback,
            query.score_min is None or (r.score is not None and r.score >= query.score_min),
            query.score_max is None or (r.score is not None and r.score <= query.score_max),
        ]
        return all(checks)

    return sorted((r.id for r in records if matches(r)), reverse=True)[: query.limit]


FILTERS: list[dict[str, Any]] = [
    {},
    {"account": "acme"},
    {"account": "nobody"},
    {"gateway": "prod"},
    {"provider": "anthropic"},
    {"model": "llama_3"},
    {"model": "llama%"},  # a value, not a pattern
    {"since": T0 + DAY},
    {"until": T0 + DAY},
    {"since": T0 + DAY / 2, "until": T0 + 2 * DAY},
    {"status_min": 400},
    {"status_max": 299},
    {"status_min": 400, "status_max": 499},
    {"status_min": 429, "status_max": 429},
    {"cached": True},
    {"cached": False},
    {"gateway": "dev", "provider": "openai", "status_min": 200, "status_max": 399, "cached": False},
    {"limit": 5},
    {"gateway": "prod", "limit": 3, "since": T0 + DAY},
    {"feedback": 1},
    {"feedback": 0},
    {"feedback": -1, "gateway": "dev"},
    {"score_min": 50},
    {"score_max": 12.5},
    {"score_min": 0, "score_max": 50, "feedback": 1},
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f) or "none")
async def test_each_filter_selects_what_it_says_newest_first(
    database: Backend, filters: dict[str, Any]
) -> None:
    records = corpus()
    await database.write_logs(records[:50])
    await database.write_logs(records[50:])
    query = LogQuery(**({"account": "local", "limit": 1000} | filters))
    found = [r.id for r in await database.query_logs(query)]
    assert found == expected(records, query)
    assert found or filters in ({"account": "nobody"}, {"model": "llama%"})  # the rest select some


async def test_the_cursor_walks_every_record_once_newest_first(database: Backend) -> None:
    records = corpus()
    await database.write_logs(records)
    for filters in ({}, {"gateway": "prod", "cached": False}):
        query = LogQuery(account="local", limit=7, **filters)
        walked: list[str] = []
        while page := await database.query_logs(replace(query, cursor=walked[-1] if walked else None)):
            assert len(page) <= 7
            walked += [r.id for r in page]
        assert walked == expected(records, replace(query, limit=1000))
        assert len(set(walked)) == len(walked) > 7


async def test_a_record_reads_back_whole(database: Backend) -> None:
    full = record(
        model="gpt-4o",
        stream=True,
        status=429,
        tokens_in=2**40,
        tokens_out=17,
        cached_tokens=3,
        reasoning_tokens=0,
        cache_write_tokens=2**33,
        usage_estimated=True,
        cost_usd=0.000123,
        cache_status="MISS",
        cache_saved_ms=5.5,
        rate_limited=True,
        error="upstream said: ünïcødé 🚦",
        metadata={"user": "ana", "n": 3, "nested": {"list": [1, 2.5, None, True]}, "big": 2**60 + 1},
        request_headers={"content-type": "application/json", "x-trace": "é"},
        request_body=bytes(range(256)),  # not UTF-8, with NUL: bodies are bytes, stored as bytes
        response_body=b"",
        step=2,
        attempts=[
            {"provider": "openai", "status": 503, "ms": 12.5},
            {"provider": "anthropic", "status": 200},
        ],
        feedback=-1,
        score=12.25,
    )
    sparse = record(model=None, ttfb_ms=None, request_body=None, response_body=None)
    unpriced = record(model="my-own-model", tokens_in=5, tokens_out=2, cost_usd=None, unpriced=True)
    await database.write_logs([full, sparse, unpriced])
    assert await database.get_log("local", full.id) == full
    assert await database.get_log("local", sparse.id) == sparse
    assert await database.get_log("local", unpriced.id) == unpriced
    assert await database.query_logs(LogQuery(account="local")) == [unpriced, sparse, full]


async def test_feedback_applies_to_the_record_of_its_gateway_and_account(database: Backend) -> None:
    mine = record(metadata={"user": "ana", "team": "search"})
    await database.write_logs([mine])

    change = Feedback.model_validate({"feedback": 1, "score": 75, "metadata": {"team": None, "ok": True}})
    updated = await database.annotate_log("local", "default", mine.id, change)

    expected_record = replace(mine, feedback=1, score=75.0, metadata={"user": "ana", "ok": True})
    assert updated == expected_record
    assert await database.get_log("local", mine.id) == expected_record
    assert await database.annotate_log("local", "prod", mine.id, change) is None
    assert await database.annotate_log("acme", "default", mine.id, change) is None
    assert await database.annotate_log("local", "default", "0" * 32, change) is None
    cleared = await database.annotate_log(
        "local", "default", mine.id, Feedback.model_validate({"score": None})
    )
    assert cleared == replace(expected_record, score=None)


async def test_feedback_over_the_metadata_bound_changes_nothing(database: Backend) -> None:
    mine = record(metadata={f"k{n}": n for n in range(20)})
    await database.write_logs([mine])

    with pytest.raises(BadRequest, match="at most 20"):
        await database.annotate_log(
            "local", "default", mine.id, Feedback.model_validate({"feedback": 1, "metadata": {"x": 1}})
        )

    assert await database.get_log("local", mine.id) == mine


async def test_get_log_is_scoped_to_the_account(database: Backend) -> None:
    mine = record()
    await database.write_logs([mine])
    assert await database.get_log("local", mine.id) == mine
    assert await database.get_log("acme", mine.id) is None
    assert await database.get_log("local", "0" * 32) is None


async def test_a_record_written_twice_is_stored_once(database: Backend) -> None:
    first, second = record(status=200), record()
    await database.write_logs([first])
    await database.write_logs([replace(first, status=500), second])  # a batch retried, plus a new one
    assert await database.query_logs(LogQuery(account="local")) == [second, first]


async def test_nul_characters_do_not_lose_a_batch(database: Backend) -> None:
    """PostgreSQL cannot store NUL in text or JSON; the record is kept (NUL may become U+FFFD)."""
    odd = record(model="gpt\x00", error="a\x00b", metadata={"k\x00": "v\x00"}, attempts=[{"e": "\x00"}])
    fine = record()
    await database.write_logs([odd, fine])
    stored = await database.get_log("local", odd.id)
    assert stored is not None
    assert stored.model in ("gpt\x00", "gpt\ufffd")
    assert await database.get_log("local", fine.id) == fine


async def test_retention_by_gateway_and_count(database: Backend) -> None:
    old = [record(ts=T0 + n, gateway="prod") for n in range(5)]
    new = [record(ts=T0 + DAY + n, gateway="prod") for n in range(5)]
    other = [record(ts=T0 + n, gateway="dev") for n in range(3)]
    await database.write_logs(old + new + other)
    assert await database.count_logs("local", "prod") == 10
    assert await database.delete_logs("local", "prod", before=T0 + DAY, keep_newest=None) == 5
    assert await database.delete_logs("local", "prod", before=None, keep_newest=2) == 3
    remaining = await database.query_logs(LogQuery(account="local", gateway="prod"))
    assert [r.id for r in remaining] == [r.id for r in reversed(new[-2:])]
    assert await database.count_logs("local", "dev") == 3


# ---- cache store


async def test_cache_entries_are_put_read_replaced_and_deleted(database: Backend) -> None:
    assert await database.cache_get("local/default/a") is None
    await database.cache_put("local/default/a", b"\x00one", 100.0)
    assert await database.cache_get("local/default/a") == b"\x00one"
    await database.cache_put("local/default/a", b"two", 200.0)
    assert await database.cache_get("local/default/a") == b"two"
    assert await database.cache_delete("local/default/a")
    assert not await database.cache_delete("local/default/a")
    assert await database.cache_get("local/default/a") is None


async def test_cache_purge_takes_a_literal_prefix(database: Backend) -> None:
    keys = ["a/g_1/x", "a/g_1/y", "a/gX1/x", "a/g%/x", "a/g%1/x", "a/g_10/x", "b/g_1/x", "a/g_"]
    for key in keys:
        await database.cache_put(key, key.encode(), 100.0)
    assert await database.cache_purge("a/g_1/") == 2  # `_` is not "any character"
    assert await database.cache_purge("a/g%") == 2  # `%` is not "anything"
    assert await database.cache_purge("zzz") == 0
    left = [key for key in keys if await database.cache_get(key) is not None]
    assert left == ["a/gX1/x", "a/g_10/x", "b/g_1/x", "a/g_"]
    assert await database.cache_purge("") == 4  # the empty prefix is everything


async def test_cache_sweep_removes_expired_entries(database: Backend) -> None:
    await database.cache_put("k/old", b"1", 100.0)
    await database.cache_put("k/edge", b"2", 150.0)
    await database.cache_put("k/new", b"3", 200.0)
    assert await database.cache_sweep(150.0) == 2
    assert [await database.cache_get(k) for k in ("k/old", "k/edge", "k/new")] == [None, None, b"3"]


# ---- tokens, provider keys, audit


def token(token_id: str, account: str = "local") -> Token:
    return Token(
        id=token_id, account=account, name=f"t {token_id}", scopes=(Scope.RUN, Scope.READ),
        gateways=("default",), created_at=T0, hint="sg_ab",
    )  # fmt: skip


async def test_tokens_are_found_by_hash_listed_and_revoked(database: Backend) -> None:
    for token_id in ("t2", "t1", "t3"):
        await database.create_token(token(token_id, "acme" if token_id == "t3" else "local"), f"h-{token_id}")
    assert await database.token_by_hash("h-t1") == token("t1")
    assert await database.token_by_hash("h-none") is None
    assert [t.id for t in await database.list_tokens("local")] == ["t2", "t1"]  # in order of creation
    assert await database.count_tokens() == 3
    assert await database.revoke_token("local", "t1", T0 + 5)
    assert not await database.revoke_token("local", "t1", T0 + 6)  # the first revocation stands
    assert not await database.revoke_token("local", "t3", T0 + 6)  # another account's
    revoked = await database.token_by_hash("h-t1")
    assert revoked is not None
    assert revoked.revoked_at == T0 + 5
    # By id, within its account only (a metadata PATCH reads the record's token this way).
    assert await database.token_by_id("local", "t1") == revoked
    assert await database.token_by_id("local", "t3") is None  # another account's
    assert await database.token_by_id("acme", "t3") == token("t3", "acme")
    assert await database.token_by_id("local", "none") is None


async def test_provider_keys_are_replaced_listed_and_deleted(database: Backend) -> None:
    key = StoredKey("local", "default", "openai", "fp1", T0)
    await database.put_provider_key(key, b"sealed-1")
    await database.put_provider_key(replace(key, fingerprint="fp2"), b"sealed-2")
    await database.put_provider_key(replace(key, provider="anthropic"), b"sealed-3")
    listed = await database.provider_keys("local", "default")
    assert listed == [
        (replace(key, provider="anthropic"), b"sealed-3"),
        (replace(key, fingerprint="fp2"), b"sealed-2"),
    ]
    assert await database.provider_keys("local", "prod") == []
    assert await database.delete_provider_key("local", "default", "openai", "default")
    assert not await database.delete_provider_key("local", "default", "openai", "default")


async def test_a_provider_holds_several_named_keys_with_weights(database: Backend) -> None:
    spare = StoredKey("local", "default", "openai", "fp-s", T0, name="spare", weight=0.5)
    main = replace(spare, fingerprint="fp-m", name="main", weight=3.0)
    for stored, sealed in ((spare, b"s"), (main, b"m"), (replace(main, weight=4.0), b"m2")):
        await database.put_provider_key(stored, sealed)
    assert await database.provider_keys("local", "default") == [
        (replace(main, weight=4.0), b"m2"),
        (spare, b"s"),
    ]  # by provider, then name; the second `main` replaced the first
    assert not await database.delete_provider_key("local", "default", "openai", "default")
    assert await database.delete_provider_key("local", "default", "openai", "main")
    assert await database.provider_keys("local", "default") == [(spare, b"s")]


async def test_custom_providers_are_created_listed_updated_and_deleted_per_account(database: Backend) -> None:
    first = CustomProvider(
        id="p1", account="local", slug="vllm", name="vLLM", base_url="https://a.example/v1",
        header_names=("X-Key",), description="nul \x00 and ünïcode", created_at=T0, modified_at=T0,
    )  # fmt: skip
    second = first.model_copy(update={"id": "p2", "slug": "alpha", "header_names": ()})
    await database.create_custom_provider(first, b"sealed-1")
    await database.create_custom_provider(second, None)
    await database.create_custom_provider(first.model_copy(update={"account": "acme"}), None)
    assert await database.custom_providers("local") == [(second, None), (first, b"sealed-1")]  # by slug
    with pytest.raises(Conflict, match="slug 'vllm' already exists"):
        await database.create_custom_provider(first.model_copy(update={"id": "p3"}), None)
    with pytest.raises(Conflict):
        await database.update_custom_provider(second.model_copy(update={"slug": "vllm"}), None)
    changed = first.model_copy(update={"slug": "renamed", "enable": False, "modified_at": T0 + 1})
    assert await database.update_custom_provider(changed, b"sealed-2")
    assert not await database.update_custom_provider(changed.model_copy(update={"id": "ghost"}), None)
    assert await database.custom_providers("local") == [(second, None), (changed, b"sealed-2")]
    assert await database.delete_custom_provider("local", "p1")
    assert not await database.delete_custom_provider("local", "p1")
    assert [p.account for p, _ in await database.custom_providers("acme")] == ["acme"]


async def test_the_audit_log_is_newest_first_per_account(database: Backend) -> None:
    entries = [AuditEntry(T0 + n, "local", "cli", "gateway.update", f"g{n}", {"n": n}) for n in range(4)]
    for entry in [*entries[:2], AuditEntry(T0, "acme", "cli", "token.create", "t", {}), *entries[2:]]:
        await database.record_audit(entry)
    assert await database.audit_log("local", 3) == entries[:0:-1]


# ---- opening


async def test_opening_again_applies_no_migration_twice(make_database: Callable[[], Backend]) -> None:
    first = make_database()
    await first.open()
    await first.create_gateway("local", "kept", "Kept", GatewaySettings())
    await first.write_logs([kept := record()])
    await first.close()
    second = make_database()
    await second.open()
    try:
        assert [g.slug for g in await second.list_gateways("local")] == ["default", "kept"]
        assert await second.get_log("local", kept.id) == kept
    finally:
        await second.close()


async def test_a_key_stored_before_key_pools_becomes_the_one_named_default(
    make_database: Callable[[], Backend], monkeypatch: pytest.MonkeyPatch
) -> None:
    old = make_database()
    module = sqlite_module if isinstance(old, SqliteDatabase) else postgres_module
    pools = next(
        n for n, script in enumerate(module.MIGRATIONS) if "provider_keys" in script and "weight" in script
    )
    with monkeypatch.context() as patch:
        patch.setattr(module, "MIGRATIONS", module.MIGRATIONS[:pools])  # the schema before key pools
        await old.open()
        row = ("local", "default", "openai", b"sealed", "fp", T0)
        if isinstance(old, SqliteDatabase):
            await old._run(old._db().execute, "INSERT INTO provider_keys VALUES (?, ?, ?, ?, ?, ?)", row)
        else:
            await old._db().execute("INSERT INTO provider_keys VALUES ($1, $2, $3, $4, $5, $6)", *row)
        await old.close()
    upgraded = make_database()
    await upgraded.open()
    try:
        key = StoredKey("local", "default", "openai", "fp", T0, name="default", weight=1.0)
        assert await upgraded.provider_keys("local", "default") == [(key, b"sealed")]
        await upgraded.put_provider_key(replace(key, name="spare"), b"other")
        assert len(await upgraded.provider_keys("local", "default")) == 2
    finally:
        await upgraded.close()


async def test_after_lists_newer_records_oldest_first(database: Any) -> None:
    def record(n: int) -> LogRecord:
        return LogRecord(
            id=f"{1_800_000_000_000 + n:012x}{n:020x}", ts=1_800_000_000 + n,
            account="local", gateway="default",
            provider="openai", endpoint="chat/completions", method="POST", model="m", stream=False,
            status=200, latency_ms=1.0, ttfb_ms=1.0,
        )  # fmt: skip

    records = [record(n) for n in range(5)]
    await database.write_logs(records)
    newer = await database.query_logs(LogQuery(account="local", after=records[1].id, limit=2))
    assert [r.id for r in newer] == [records[2].id, records[3].id]
