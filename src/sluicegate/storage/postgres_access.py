"""Access on PostgreSQL: tokens, stored provider keys, the audit log and route versions."""

from __future__ import annotations

from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson

from sluicegate.errors import Conflict
from sluicegate.storage import postgres_custom
from sluicegate.storage.base import AuditEntry, CustomProvider, RouteVersion, StoredKey
from sluicegate.storage.postgres_pool import PostgresPool, pg_json, row_count
from sluicegate.tokens import Token


class PostgresAccess(PostgresPool):
    async def create_token(self, token: Token, secret_hash: str) -> None:
        try:
            await self._db().execute(
                "INSERT INTO tokens (id, account, secret_hash, body) VALUES ($1, $2, $3, $4)",
                token.id, token.account, secret_hash, token.model_dump_json(),
            )  # fmt: skip
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"token {token.id!r} already exists") from exc

    async def token_by_hash(self, secret_hash: str) -> Token | None:
        sql = "SELECT body, revoked_at FROM tokens WHERE secret_hash = $1"
        row = await self._db().fetchrow(sql, secret_hash)
        return _token(row) if row else None

    async def list_tokens(self, account: str) -> list[Token]:
        sql = "SELECT body, revoked_at FROM tokens WHERE account = $1 ORDER BY seq"
        return [_token(row) for row in await self._db().fetch(sql, account)]

    async def token_by_id(self, account: str, token_id: str) -> Token | None:
        sql = "SELECT body, revoked_at FROM tokens WHERE account = $1 AND id = $2"
        row = await self._db().fetchrow(sql, account, token_id)
        return _token(row) if row else None

    async def revoke_token(self, account: str, token_id: str, at: float) -> bool:
        sql = "UPDATE tokens SET revoked_at = $1 WHERE account = $2 AND id = $3 AND revoked_at IS NULL"
        return row_count(await self._db().execute(sql, at, account, token_id)) > 0

    async def update_token(self, token: Token) -> bool:
        sql = "UPDATE tokens SET body = $1 WHERE account = $2 AND id = $3 AND revoked_at IS NULL"
        return row_count(await self._db().execute(sql, token.model_dump_json(), token.account, token.id)) > 0

    async def count_tokens(self) -> int:
        return int(await self._db().fetchval("SELECT count(*) FROM tokens"))

    async def put_provider_key(self, key: StoredKey, sealed: bytes) -> None:
        await self._db().execute(
            "INSERT INTO provider_keys"
            " (account, gateway, provider, name, weight, sealed, fingerprint, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            " ON CONFLICT (account, gateway, provider, name) DO UPDATE"
            " SET weight = excluded.weight, sealed = excluded.sealed,"
            " fingerprint = excluded.fingerprint, created_at = excluded.created_at",
            key.account, key.gateway, key.provider, key.name, key.weight, sealed, key.fingerprint,
            key.created_at,
        )  # fmt: skip

    async def provider_keys(self, account: str, gateway: str) -> list[tuple[StoredKey, bytes]]:
        sql = (
            "SELECT account, gateway, provider, fingerprint, created_at, name, weight, sealed"
            " FROM provider_keys WHERE account = $1 AND gateway = $2 ORDER BY provider, name"
        )
        rows = await self._db().fetch(sql, account, gateway)
        return [(StoredKey(*row[:7]), bytes(row[7])) for row in rows]

    async def delete_provider_key(self, account: str, gateway: str, provider: str, name: str) -> bool:
        sql = "DELETE FROM provider_keys WHERE account = $1 AND gateway = $2 AND provider = $3 AND name = $4"
        return row_count(await self._db().execute(sql, account, gateway, provider, name)) > 0

    async def record_audit(self, entry: AuditEntry) -> None:
        await self._db().execute(
            "INSERT INTO audit (ts, account, actor, action, target, details) VALUES ($1, $2, $3, $4, $5, $6)",
            entry.ts, entry.account, entry.actor, entry.action, entry.target, pg_json(entry.details),
        )  # fmt: skip

    async def add_route_version(
        self, account: str, gateway: str, name: str, route: Any, ts: float, actor: str
    ) -> int:
        # Two saves racing for one number: the primary key refuses the second, which tries again.
        sql = (
            "INSERT INTO route_versions (account, gateway, name, version, route, ts, actor)"
            " SELECT $1, $2, $3, COALESCE(MAX(version), 0) + 1, $4::jsonb, $5, $6 FROM route_versions"
            " WHERE account = $1 AND gateway = $2 AND name = $3 RETURNING version"
        )
        text = None if route is None else pg_json(route)
        for _ in range(5):
            try:
                version: int = await self._db().fetchval(sql, account, gateway, name, text, ts, actor)
                return version
            except asyncpg.UniqueViolationError:
                continue
        raise RuntimeError(f"could not number a new version of route {name!r}")

    async def route_versions(self, account: str, gateway: str, name: str) -> list[RouteVersion]:
        sql = (
            "SELECT name, version, route, ts, actor FROM route_versions"
            " WHERE account = $1 AND gateway = $2 AND name = $3 ORDER BY version DESC"
        )
        rows = await self._db().fetch(sql, account, gateway, name)
        return [
            RouteVersion(r["name"], r["version"], None if r["route"] is None else orjson.loads(r["route"]),
                         r["ts"], r["actor"])
            for r in rows
        ]  # fmt: skip

    async def create_custom_provider(self, provider: CustomProvider, sealed: bytes | None) -> None:
        await postgres_custom.create(self._db(), provider, sealed)

    async def update_custom_provider(self, provider: CustomProvider, sealed: bytes | None) -> bool:
        return await postgres_custom.update(self._db(), provider, sealed)

    async def custom_providers(self, account: str) -> list[tuple[CustomProvider, bytes | None]]:
        return await postgres_custom.select(self._db(), account)

    async def delete_custom_provider(self, account: str, provider_id: str) -> bool:
        return await postgres_custom.delete(self._db(), account, provider_id)

    async def audit_log(self, account: str, limit: int) -> list[AuditEntry]:
        sql = (
            "SELECT ts, account, actor, action, target, details FROM audit"
            " WHERE account = $1 ORDER BY id DESC LIMIT $2"
        )
        rows = await self._db().fetch(sql, account, limit)
        return [
            AuditEntry(ts, account, actor, action, target, orjson.loads(details))
            for ts, account, actor, action, target, details in rows
        ]


def _token(row: asyncpg.Record) -> Token:
    return Token.model_validate_json(row[0]).model_copy(update={"revoked_at": row[1]})
