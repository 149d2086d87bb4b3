"""Without a `cache_url`, no Redis client is made and every feature keeps its state in process; with
one, every feature shares one client (tests/integration/backends/test_redis_connection.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sluicegate.config import Settings, load_settings
from sluicegate.storage import connect_redis, create_cache, create_limiter
from sluicegate.storage.cache import MemoryCache
from sluicegate.storage.durable_limiter import DurableLimiter
from sluicegate.storage.sqlite import SqliteDatabase


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[[str], Settings]:
    return lambda cache_url: load_settings(environ={}, data_dir=tmp_path / "data", cache_url=cache_url)


async def test_without_redis_no_client_is_made(
    settings_for: Callable[[str], Settings], tmp_path: Path
) -> None:
    settings = settings_for("")
    assert connect_redis(settings) is None
    database = SqliteDatabase(tmp_path / "sluicegate.db")
    assert isinstance(create_cache(settings, database, None), MemoryCache)
    assert isinstance(create_limiter(settings, None), DurableLimiter)
