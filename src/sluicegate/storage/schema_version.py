"""A database migrated by a newer Sluicegate is refused, not used.

Migrations only go forward: a release knows the schema versions up to its last migration (SQLite's
`PRAGMA user_version`, PostgreSQL's `schema_migrations`). Before, an older release started on a
newer schema without a word (it had nothing left to apply) and used it as its own. Now opening
such a database raises `SchemaTooNew` before anything is written; `serve` and the CLI say it in one
line and exit 2 (startup.py, cli/common.py).
"""

from __future__ import annotations

from sluicegate import __version__


class SchemaTooNew(Exception):
    """The database's schema is newer than this release's migrations reach."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(
            f"its schema is version {found}, but this Sluicegate ({__version__}) knows versions up to"
            f" {known}: a newer Sluicegate has migrated it; run that one (or a later one), or restore"
            " a backup taken before the upgrade"
        )
        self.found = found
        self.known = known
