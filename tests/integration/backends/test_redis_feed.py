"""Replicas' indexes kept in step through Redis: entries of several turns on a stream of their own."""

from __future__ import annotations

import math

import numpy as np
import pytest
import redis

from sluicegate.semantic.feed import VectorFeed
from sluicegate.semantic.index import VectorIndex

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
