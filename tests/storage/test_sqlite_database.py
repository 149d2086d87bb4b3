"""The `Database` contracts (database_contract.py, log_conditions_contract.py,
log_lines_contract.py) on the embedded backend, SQLite; PostgreSQL's run is
tests/integration/backends/test_postgres_database.py, with the slow tier."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sluicegate.storage import create_database
from sluicegate.storage.postgres import PostgresDatabase
from sluicegate.storage.sqlite import SqliteDatabase
from tests.storage.database_contract import *  # noqa: F403  (every contract test runs here)
from tests.storage.gateway_page_contract import *  # noqa: F403
from tests.storage.log_conditions_contract import *  # noqa: F403
from tests.storage.log_lines_contract import *  # noqa: F403
from tests.storage.stored_order_contract import *  # noqa: F403


@pytest.fixture
def make_database(tmp_path: Path) -> Callable[[], SqliteDatabase]:
    """New, unopened instances over one store (so a test can open it twice, or from two "replicas")."""
    return lambda: SqliteDatabase(tmp_path / "sluicegate.db")


@pytest.mark.parametrize("url", ["postgresql://u@db:5432/sg?schema=s", "postgres://u@db/sg"])
def test_a_postgres_url_picks_postgres(url: str) -> None:
    assert isinstance(create_database(url), PostgresDatabase)  # not opened: no connection is made
