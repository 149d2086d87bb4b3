"""Custom providers on PostgreSQL: the statements of `sqlite_custom.py` (the table is a
migration of `postgres.py`), each provider as its JSON beside its sealed headers."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]

from sluicegate.errors import Conflict
from sluicegate.storage.base import CustomProvider

# `body` is TEXT, not JSONB: JSONB refuses a NUL, which a description may escape.
MIGRATION = """
    CREATE TABLE custom_providers (
        account TEXT COLLATE "C" NOT NULL,
        id TEXT COLLATE "C" NOT NULL,
        slug TEXT COLLATE "C" NOT NULL,
        body TEXT NOT NULL,
        sealed_headers BYTEA,
        PRIMARY KEY (account, id),
        UNIQUE (account, slug)
    )
"""


async def create(pool: asyncpg.Pool, provider: CustomProvider, sealed: bytes | None) -> None:
    sql = "INSERT INTO custom_providers (account, id, slug, body, sealed_headers) VALUES ($1, $2, $3, $4, $5)"
    try:
        await pool.execute(
            sql, provider.account, provider.id, provider.slug, provider.model_dump_json(), sealed
        )
    except asyncpg.UniqueViolationError as exc:
        raise _taken(provider) from exc


async def update(pool: asyncpg.Pool, provider: CustomProvider, sealed: bytes | None) -> bool:
    sql = (
        "UPDATE custom_providers SET slug = $3, body = $4, sealed_headers = $5 WHERE account = $1 AND id = $2"
    )
    try:
        status: str = await pool.execute(
            sql, provider.account, provider.id, provider.slug, provider.model_dump_json(), sealed
        )
    except asyncpg.UniqueViolationError as exc:
        raise _taken(provider) from exc
    return int(status.rsplit(" ", 1)[-1]) > 0


async def select(pool: asyncpg.Pool, account: str) -> list[tuple[CustomProvider, bytes | None]]:
    sql = "SELECT body, sealed_headers FROM custom_providers WHERE account = $1 ORDER BY slug"
    return [
        (CustomProvider.model_validate_json(row["body"]), row["sealed_headers"])
        for row in await pool.fetch(sql, account)
    ]


async def delete(pool: asyncpg.Pool, account: str, provider_id: str) -> bool:
    status: str = await pool.execute(
        "DELETE FROM custom_providers WHERE account = $1 AND id = $2", account, provider_id
    )
    return int(status.rsplit(" ", 1)[-1]) > 0


def _taken(provider: CustomProvider) -> Conflict:
    return Conflict(
        f"a custom provider with slug {provider.slug!r} already exists in account {provider.account!r}",
        field="slug",
    )
