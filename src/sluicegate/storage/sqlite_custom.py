"""Custom providers on SQLite: each stored as its JSON beside its sealed headers (`custom_providers`,
a migration of `sqlite.py`). Functions of the connection, run on the database's thread."""

from __future__ import annotations

import sqlite3

from sluicegate.errors import Conflict
from sluicegate.storage.base import CustomProvider

MIGRATION = """
    CREATE TABLE custom_providers (
        account TEXT NOT NULL,
        id TEXT NOT NULL,
        slug TEXT NOT NULL,
        body TEXT NOT NULL,
        sealed_headers BLOB,
        PRIMARY KEY (account, id),
        UNIQUE (account, slug)
    );
"""


def create(db: sqlite3.Connection, provider: CustomProvider, sealed: bytes | None) -> None:
    sql = "INSERT INTO custom_providers (account, id, slug, body, sealed_headers) VALUES (?, ?, ?, ?, ?)"
    row = (provider.account, provider.id, provider.slug, provider.model_dump_json(), sealed)
    try:
        db.execute(sql, row)
    except sqlite3.IntegrityError as exc:
        raise _taken(provider) from exc


def update(db: sqlite3.Connection, provider: CustomProvider, sealed: bytes | None) -> bool:
    sql = "UPDATE custom_providers SET slug = ?, body = ?, sealed_headers = ? WHERE account = ? AND id = ?"
    row = (provider.slug, provider.model_dump_json(), sealed, provider.account, provider.id)
    try:
        return db.execute(sql, row).rowcount > 0
    except sqlite3.IntegrityError as exc:
        raise _taken(provider) from exc


def select(db: sqlite3.Connection, account: str) -> list[tuple[CustomProvider, bytes | None]]:
    sql = "SELECT body, sealed_headers FROM custom_providers WHERE account = ? ORDER BY slug"
    return [
        (CustomProvider.model_validate_json(body), None if sealed is None else bytes(sealed))
        for body, sealed in db.execute(sql, (account,)).fetchall()
    ]


def delete(db: sqlite3.Connection, account: str, provider_id: str) -> bool:
    sql = "DELETE FROM custom_providers WHERE account = ? AND id = ?"
    return db.execute(sql, (account, provider_id)).rowcount > 0


def _taken(provider: CustomProvider) -> Conflict:
    return Conflict(
        f"a custom provider with slug {provider.slug!r} already exists in account {provider.account!r}",
        field="slug",
    )
