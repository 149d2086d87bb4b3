from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sluicegate.storage.sqlite import SqliteDatabase


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    """The embedded store, on disk in the test's own directory."""
    store = SqliteDatabase(tmp_path / "sluicegate.db")
    await store.open()
    yield store
    await store.close()
