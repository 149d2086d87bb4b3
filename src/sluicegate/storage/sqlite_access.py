"""Access on SQLite: tokens, stored provider keys, the audit log and route versions."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from sluicegate.errors import Conflict
from sluicegate.storage import sqlite_custom
from sluicegate.storage.base import AuditEntry, CustomProvider, RouteVersion, StoredKey
from sluicegate.storage.sqlite_worker import SqliteWorker
from sluicegate.tokens import Token


class SqliteAccess(SqliteWorker):
    async def create_token(self, token: Token, secret_hash: str) -> None:
        try:
            await self._run(
                self._db().execute,
                "INSERT INTO tokens (id, account, secret_hash, body, revoked_at) VALUES (?, ?, ?, ?, NULL)",
                (token.id, token.account, secret_hash, token.model_dump_json()),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict("a token with this id or secret exists") from exc

    async def token_by_hash(self, secret_hash: str) -> Token | None:
        sql = "SELECT body, revoked_at FROM tokens WHERE secret_hash = ?"
        row = await self._run(lambda: self._db().execute(sql, (secret_hash,)).fetchone())
        return Token.model_validate_json(row[0]).model_copy(update={"revoked_at": row[1]}) if row else None

    async def list_tokens(self, account: str) -> list[Token]:
        sql = "SELECT body, revoked_at FROM tokens WHERE account = ? ORDER BY rowid"
        rows = await self._run(lambda: self._db().execute(sql, (account,)).fetchall())
        return [
            Token.model_validate_json(body).model_copy(update={"revoked_at": revoked})
            for body, revoked in rows
        ]

    async def token_by_id(self, account: str, token_id: str) -> Token | None:
        sql = "SELECT body, revoked_at FROM tokens WHERE account = ? AND id = ?"
        row = await self._run(lambda: self._db().execute(sql, (account, token_id)).fetchone())
        return Token.model_validate_json(row[0]).model_copy(update={"revoked_at": row[1]}) if row else None

    async def revoke_token(self, account: str, token_id: str, at: float) -> bool:
        sql = "UPDATE tokens SET revoked_at = ? WHERE account = ? AND id = ? AND revoked_at IS NULL"
        cursor = await self._run(self._db().execute, sql, (at, account, token_id))
        return bool(cursor.rowcount)

    async def update_token(self, token: Token) -> bool:
        sql = "UPDATE tokens SET body = ? WHERE account = ? AND id = ? AND revoked_at IS NULL"
        cursor = await self._run(self._db().execute, sql, (token.model_dump_json(), token.account, token.id))
        return bool(cursor.rowcount)

    async def count_tokens(self) -> int:
        return int(await self._run(lambda: self._db().execute("SELECT count(*) FROM tokens").fetchone()[0]))

    async def put_provider_key(self, key: StoredKey, sealed: bytes) -> None:
        await self._run(
            self._db().execute,
            "INSERT OR REPLACE INTO provider_keys"
            " (account, gateway, provider, name, weight, sealed, fingerprint, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key.account, key.gateway, key.provider, key.name, key.weight, sealed, key.fingerprint,
             key.created_at),
        )  # fmt: skip

    async def provider_keys(self, account: str, gateway: str) -> list[tuple[StoredKey, bytes]]:
        sql = (
            "SELECT account, gateway, provider, fingerprint, created_at, name, weight, sealed"
            " FROM provider_keys WHERE account = ? AND gateway = ? ORDER BY provider, name"
        )
        rows = await self._run(lambda: self._db().execute(sql, (account, gateway)).fetchall())
        return [(StoredKey(*row[:7]), bytes(row[7])) for row in rows]

    async def delete_provider_key(self, account: str, gateway: str, provider: str, name: str) -> bool:
        sql = "DELETE FROM provider_keys WHERE account = ? AND gateway = ? AND provider = ? AND name = ?"
        cursor = await self._run(self._db().execute, sql, (account, gateway, provider, name))
        return bool(cursor.rowcount)

    async def record_audit(self, entry: AuditEntry) -> None:
        await self._run(
            self._db().execute,
            "INSERT INTO audit (ts, account, actor, action, target, details) VALUES (?, ?, ?, ?, ?, ?)",
            (
                entry.ts,
                entry.account,
                entry.actor,
                entry.action,
                entry.target,
                orjson.dumps(entry.details).decode(),
            ),
        )

    async def add_route_version(
        self, account: str, gateway: str, name: str, route: Any, ts: float, actor: str
    ) -> int:
        # One statement: SQLite runs it alone, so two saves cannot take the same number.
        sql = (
            "INSERT INTO route_versions (account, gateway, name, version, route, ts, actor)"
            " SELECT ?, ?, ?, COALESCE(MAX(version), 0) + 1, ?, ?, ? FROM route_versions"
            " WHERE account = ? AND gateway = ? AND name = ? RETURNING version"
        )
        text = None if route is None else orjson.dumps(route).decode()
        args = (account, gateway, name, text, ts, actor, account, gateway, name)
        row = await self._run(lambda: self._db().execute(sql, args).fetchone())
        return int(row[0])

    async def route_versions(self, account: str, gateway: str, name: str) -> list[RouteVersion]:
        sql = (
            "SELECT name, version, route, ts, actor FROM route_versions"
            " WHERE account = ? AND gateway = ? AND name = ? ORDER BY version DESC"
        )
        rows = await self._run(lambda: self._db().execute(sql, (account, gateway, name)).fetchall())
        return [
            RouteVersion(row[0], row[1], None if row[2] is None else orjson.loads(row[2]), row[3], row[4])
            for row in rows
        ]

    async def create_custom_provider(self, provider: CustomProvider, sealed: bytes | None) -> None:
        await self._run(sqlite_custom.create, self._db(), provider, sealed)

    async def update_custom_provider(self, provider: CustomProvider, sealed: bytes | None) -> bool:
        return await self._run(sqlite_custom.update, self._db(), provider, sealed)

    async def custom_providers(self, account: str) -> list[tuple[CustomProvider, bytes | None]]:
        return await self._run(sqlite_custom.select, self._db(), account)

    async def delete_custom_provider(self, account: str, provider_id: str) -> bool:
        return await self._run(sqlite_custom.delete, self._db(), account, provider_id)

    async def audit_log(self, account: str, limit: int) -> list[AuditEntry]:
        sql = (
            "SELECT ts, account, actor, action, target, details FROM audit WHERE account = ? ORDER BY id DESC"
        )
        sql += " LIMIT ?"
        rows = await self._run(lambda: self._db().execute(sql, (account, limit)).fetchall())
        return [
            AuditEntry(ts, acc, actor, action, target, orjson.loads(details))
            for ts, acc, actor, action, target, details in rows
        ]
