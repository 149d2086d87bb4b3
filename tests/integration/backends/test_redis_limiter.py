"""The limiter contract (tests/storage/limiter_contract.py) on Redis: the counters replicas share.

Needs Redis on 127.0.0.1 (`redis_url` in tests/conftest.py: skipped without it, failed with
`SLUICEGATE_REQUIRE_SERVICES=1`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sluicegate.storage.limiter import Limiter
from sluicegate.storage.redis_limiter import RedisLimiter
from tests.storage.limiter_contract import *  # noqa: F403  (every contract test runs here)


@pytest.fixture
async def limiter(redis_url: str) -> AsyncIterator[Limiter]:
    backend = RedisLimiter(redis_url)
    await backend.open()
    yield backend
    await backend.close()
