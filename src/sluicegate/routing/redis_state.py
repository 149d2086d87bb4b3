"""The routing state store in Redis, so every replica sees the same circuits and key health.

A read is one `MGET`. An update is an optimistic transaction: `WATCH key`, `GET`, the change
computed here, then `MULTI / SET (PX) or DEL / EXEC`; if another replica wrote the key meanwhile,
EXEC fails and the update is tried again on the new value, after a short random pause that grows
with each try (writers that collided would otherwise collide again). The state machines stay in
Python, in one place, instead of being written again in Lua; the price is that many replicas
writing one key at once take turns. Writes are rare (failures, probes, refused keys) and belong
after the response, so that price is not paid by a client. Expiry is relative to the gateway's clock
(as the limiter's windows are), so replicas need clocks in step, as NTP keeps them.

(It lives beside the engine until the wiring round moves the backends under storage/.)
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Sequence

import orjson
from redis.exceptions import WatchError

from sluicegate.routing.state import MemoryStateStore, Record, StateStore, StateUnavailable, Update
from sluicegate.storage.redis_link import RedisConnection, RedisLink

MAX_TRIES = 12  # an update that loses the race this often gives up (the state is advisory)
FIRST_PAUSE = 0.001  # seconds; doubled after each lost race, and drawn at random below that


class RedisStateStore:
    def __init__(self, redis: RedisConnection | str) -> None:
        self.link = RedisLink(redis, "route:")
        self._prefix = self.link.prefix
        self._client = self.link.client

    async def open(self) -> None:
        await self.link.probe(StateUnavailable)

    async def close(self) -> None:
        await self.link.close()

    async def read(self, keys: Sequence[str], now: float) -> list[Record | None]:
        if not keys:
            return []
        with self.link.attempt(StateUnavailable):
            values = await self._client.mget([self._prefix + key for key in keys])
        return [None if value is None else orjson.loads(value) for value in values]

    async def update(self, key: str, change: Update, now: float) -> Record | None:
        name = self._prefix + key
        with self.link.attempt(StateUnavailable):
            async with self._client.pipeline(transaction=True) as pipe:
                for tries in range(MAX_TRIES):
                    try:
                        await pipe.watch(name)
                        raw = await pipe.get(name)
                        current = None if raw is None else orjson.loads(raw)
                        result = change(current)
                        if result is None:
                            await pipe.unwatch()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                            return current
                        pipe.multi()  # type: ignore[no-untyped-call]
                        if result.value is None:
                            pipe.delete(name)
                        elif result.expires_at is None:
                            pipe.set(name, orjson.dumps(result.value))
                        else:
                            ttl_ms = max(math.ceil((result.expires_at - now) * 1000), 1)
                            pipe.set(name, orjson.dumps(result.value), px=ttl_ms)
                        await pipe.execute()
                        return result.value
                    except WatchError:
                        await asyncio.sleep(random.uniform(0, FIRST_PAUSE * 2 ** min(tries, 7)))
        raise StateUnavailable(f"{key}: changed by others {MAX_TRIES} times during one update")


def create_state_store(redis: RedisConnection | None) -> StateStore:
    """Routing state (circuits, provider key health): in Redis when there is one, so replicas
    share it."""
    return RedisStateStore(redis) if redis is not None else MemoryStateStore()
