"""Replicas' indexes kept in step through Redis: entries of several turns on a stream of their own."""

from __future__ import annotations

import asyncio
import math
import time

import numpy as np
import pytest
import redis

from sluicegate.semantic.feed import VectorFeed
from sluicegate.semantic.index import VectorIndex
from sluicegate.storage.cache import CacheUnavailable
from tests.redis_process import RedisProcess

DIMENSIONS = 4


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(DIMENSIONS, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


async def test_a_conversation_entry_reaches_another_replica_on_its_own_stream(redis_url: str) -> None:
    """A replica of an earlier version follows only the first stream, where every add is one
    vector: it must never receive an entry of several turns."""
    writer_index, reader_index = VectorIndex(DIMENSIONS), VectorIndex(DIMENSIONS)
    writer, reader = VectorFeed(redis_url, writer_index), VectorFeed(redis_url, reader_index)
    turns = np.stack([unit(1), unit(0, 1), unit(0, 0, 1)])
    await writer.added("g/sem:one", "single", unit(1), math.inf)
    await writer.added("g/sem:three", "conversation", turns, math.inf)
    await reader.open()  # catches up on both streams
    try:
        assert reader_index.search("g/sem:three", turns, now=0.0)[0] == ("conversation", pytest.approx(1.0))
        assert reader_index.search("g/sem:one", unit(1), now=0.0)[0][0] == "single"
    finally:
        await reader.close()
        await writer.close()
    prefix = redis_url.split("prefix=")[1]
    client = redis.Redis.from_url(redis_url.split("?")[0])
    first = client.xrange(prefix + "semantic")
    assert [fields[b"id"] for _, fields in first] == [b"single"]  # type: ignore[union-attr]
    assert len(client.xrange(prefix + "semantic:turns")) == 1  # type: ignore[arg-type]
    client.close()


async def test_the_followers_first_read_after_an_outage_holds_no_add_back(own_redis: RedisProcess) -> None:
    """Once Redis is back, the first call to get through is the one that tries it again, and the
    others are refused until it answers. The follower's read blocks for up to a second waiting for
    entries: taken as that try, it would refuse this replica's adds (kept here only, never reaching
    the others) for that second, with Redis up all along."""
    feed = VectorFeed(own_redis.url, VectorIndex(DIMENSIONS))
    await feed.open()
    own_redis.kill()
    with pytest.raises(CacheUnavailable):
        await feed.added("g/sem:one", "lost", unit(1), math.inf)
    own_redis.start()
    watcher = redis.Redis(port=own_redis.port)
    try:
        deadline = time.monotonic() + 10
        while not any(c["cmd"] == "xread" and "b" in c["flags"] for c in watcher.client_list()):
            assert time.monotonic() < deadline, "the follower never read again"
            await asyncio.sleep(0.01)
        await feed.added("g/sem:one", "kept", unit(1), math.inf)  # while the follower's read blocks
    finally:
        watcher.close()
        await feed.close()
    with redis.Redis(port=own_redis.port) as client:
        entries = client.xrange("sluicegate:semantic")
    assert [fields[b"id"] for _, fields in entries] == [b"kept"]  # type: ignore[union-attr]
