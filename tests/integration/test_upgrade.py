"""Upgrades: a database written by an earlier release (tests/fixtures/upgrade, built by that
release's own code) is migrated when today's gateway starts on it, SQLite and PostgreSQL, and
everything it held still works: the gateway and its settings, the admin token, the sealed
provider key, the log records (listed, read, counted in analytics) and the audit trail; new
requests are served and logged beside the old ones."""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx2 as httpx
import pytest

from sluicegate.storage import postgres, sqlite
from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.fixtures.upgrade.build import (
    MASTER_KEY,
    POSTGRES_FILE,
    PROVIDER_KEY,
    RECORDS,
    SCHEMA,
    SQLITE_FILE,
    T0,
    TOKEN_SECRET,
)

LEGACY = "/api/v1/accounts/local/gateways/legacy"


def check_upgraded(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    """What the earlier release stored is all served by today's gateway."""
    legacy = httpx.Client(
        base_url=gateway.url, headers={"Authorization": f"Bearer {TOKEN_SECRET}"}, timeout=10
    )
    with legacy:
        whoami = legacy.get("/api/v1/whoami")
        assert whoami.status_code == 200, whoami.text  # the old token, hashed then, still signs in
        assert whoami.json()["name"] == "legacy admin"
        settings = legacy.get(LEGACY).json()["settings"]
        assert settings["cache_enabled"] is True
        assert settings["retention_days"] == 3650
        assert [(r["limit"], r["period"]) for r in settings["rate_limits"]] == [(100000, 3600)]
        old = legacy.get(LEGACY + "/logs", params={"limit": 100}).json()["result"]
        assert len(old) == RECORDS
        record = legacy.get(f"{LEGACY}/logs/{0xFEED0003:032x}").json()
        assert record["metadata"] == {"user": "u0"}
        assert record["model"] == "gpt-4o-mini"
        totals = legacy.get(
            "/api/v1/accounts/local/analytics", params={"gateway": "legacy", "from": T0 - 60, "to": T0 + 3600}
        ).json()["totals"]
        assert totals["requests"] == RECORDS
        assert totals["errors_5xx"] == RECORDS // 5
        audit = legacy.get("/api/v1/accounts/local/audit").json()["result"]
        assert any(entry["action"] == "gateway.create" and entry["target"] == "legacy" for entry in audit)

        # A request with no key of its own: the stored key, sealed by the old release, is unsealed.
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "after the upgrade"}]}
        answer = httpx.post(f"{gateway.url}/v1/local/legacy/openai/chat/completions", json=body, timeout=10)
        assert answer.status_code == 200, answer.text
        assert fake.requests[-1].header("authorization") == f"Bearer {PROVIDER_KEY}"
        assert answer.headers["x-ratelimit-limit"] == "100000"
        assert len(gateway.wait_for_logs(RECORDS + 1, "legacy")) == RECORDS + 1


def test_a_sqlite_database_of_the_previous_release_is_migrated_on_start(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    database = data / "sluicegate.db"
    shutil.copyfile(SQLITE_FILE, database)
    with sqlite3.connect(database) as connection:
        before = connection.execute("PRAGMA user_version").fetchone()[0]
    assert before < len(sqlite.MIGRATIONS)  # the fixture is older than today's schema
    gateway = make_gateway(data_dir=data, secret_key=MASTER_KEY, upstreams={"openai": fake.base_url})
    check_upgraded(gateway, fake)
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == len(sqlite.MIGRATIONS)


def run_sql(url: str, sql: str) -> list[asyncpg.Record]:
    async def execute() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(url.split("?", 1)[0], timeout=5)
        try:
            if ";" in sql.strip().rstrip(";"):
                await connection.execute(sql)  # a script: several statements, no rows
                return []
            return await connection.fetch(sql)
        finally:
            await connection.close()

    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, execute()).result()


def test_a_postgres_database_of_the_previous_release_is_migrated_on_start(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, postgres_url: str
) -> None:
    schema = parse_qs(urlsplit(postgres_url).query)["schema"][0]
    run_sql(postgres_url, POSTGRES_FILE.read_text().replace(SCHEMA, schema))
    versions = run_sql(postgres_url, f'SELECT max(version) AS v FROM "{schema}".schema_migrations')
    assert versions[0]["v"] < len(postgres.MIGRATIONS)  # the fixture is older than today's schema
    gateway = make_gateway(
        database_url=postgres_url, secret_key=MASTER_KEY, upstreams={"openai": fake.base_url}
    )
    check_upgraded(gateway, fake)
    versions = run_sql(postgres_url, f'SELECT max(version) AS v FROM "{schema}".schema_migrations')
    assert versions[0]["v"] == len(postgres.MIGRATIONS)


@pytest.fixture(autouse=True)
def _fixtures_exist() -> None:
    assert SQLITE_FILE.exists(), "run tests/fixtures/upgrade/build.py"
    assert POSTGRES_FILE.exists(), "run tests/fixtures/upgrade/build.py"
