"""Keeping every replica's in-memory vector index in step through a Redis stream.

A replica that stores a question appends `add` to the stream; a purge appends `purge`. Every
replica reads the stream from the start when it opens (so a new one catches up), then follows it
with a blocking read: a question stored through one replica is found by another well within a
second. The answers themselves live in the shared cache (Redis). An entry travels with its whole
scope (gateway, provider, endpoint, segment, provider-key digest, ...), so it lands in the same
partition on every replica and is never searched from another. Entries of several turns (a
conversation's question and context) go to a second stream, `...semantic:turns`.

Redis unreachable: an add or purge raises `CacheUnavailable` (the entry stays on this replica), the
follower tries again each second and, once Redis is back, reads on from where it was.

`on_added` is told when the follower adds a question stored since this replica opened: the
semantic cache is in use, so the models warm up here before this replica is asked (`Models`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from sluicegate.semantic.index import VectorIndex
from sluicegate.storage.cache import CacheUnavailable
from sluicegate.storage.redis_link import RedisConnection, RedisLink

_MAX_LENGTH = 1_000_000  # stream entries kept (approximately); older questions fall out


class VectorFeed:
    def __init__(
        self, redis: RedisConnection | str, index: VectorIndex, clock: Callable[[], float] = time.time
    ) -> None:
        self._link = RedisLink(redis, "semantic")
        self._key = self._link.prefix
        # Entries of several turns (conversations) travel on a stream of their own, so a replica
        # of an earlier version, which reads every add as one vector, never receives one.
        self._turns_key = self._key + ":turns"
        self._client = self._link.client
        self._index = index
        self._clock = clock
        self._last = {self._key: "0-0", self._turns_key: "0-0"}
        self._task: asyncio.Task[None] | None = None
        self.on_added: Callable[[], None] | None = None

    async def open(self) -> None:
        with contextlib.suppress(CacheUnavailable), self._link.attempt(CacheUnavailable):
            await self._catch_up()  # else the follower catches up once Redis is back
        self._task = asyncio.create_task(self._follow(), name="semantic-feed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._link.close()

    async def added(self, scope: str, entry_id: str, vector: np.ndarray[Any, Any], expires_at: float) -> None:
        """`vector`: one row per turn."""
        turns = len(np.asarray(vector).reshape(-1, self._index.dimensions))
        fields = {
            "op": "add",
            "scope": scope,
            "id": entry_id,
            "expires": repr(expires_at),
            "turns": str(turns),
            "vector": np.asarray(vector, dtype=np.float32).tobytes(),
        }
        key = self._key if turns == 1 else self._turns_key
        with self._link.attempt(CacheUnavailable):
            await self._client.xadd(key, fields, maxlen=_MAX_LENGTH, approximate=True)  # type: ignore[arg-type]

    async def purged(self, prefix: str) -> None:
        with self._link.attempt(CacheUnavailable):
            await self._client.xadd(
                self._key, {"op": "purge", "scope": prefix}, maxlen=_MAX_LENGTH, approximate=True
            )

    async def _catch_up(self) -> None:
        """Both streams from where this replica left off. A purge and an add on the other stream
        are not ordered between them: a vector whose answer was purged may come back, and goes
        again at its first lookup, when its answer is not found."""
        for key in self._last:
            while True:
                last = self._last[key]
                batch = await self._client.xrange(key, min=f"({last}" if last != "0-0" else "-", count=1000)
                if not batch:
                    break
                await asyncio.to_thread(self._apply, key, batch)  # type: ignore[arg-type]  # bytes without decode_responses

    async def _follow(self) -> None:
        while True:
            # Down, this read may be the one call that tries Redis again, which the others wait
            # on: it must not wait a second for entries then (adds would be refused meanwhile).
            block = None if self._link.down else 1000
            try:
                with self._link.attempt(CacheUnavailable):
                    answer = await self._client.xread(dict(self._last), block=block, count=1000)  # type: ignore[arg-type]
            except CacheUnavailable:
                await asyncio.sleep(1)  # logged by the link, once per outage
                continue
            for key, batch in answer or []:  # type: ignore[str-unpack]  # redis-py's xread is loosely typed
                added = await asyncio.to_thread(self._apply, bytes(key).decode(), batch)  # type: ignore[arg-type]
                if added and self.on_added is not None:
                    self.on_added()

    def _apply(self, key: str, batch: list[tuple[bytes, dict[bytes, bytes]]]) -> bool:
        """Apply the stream's entries to the index; whether any question was added."""
        now = self._clock()
        added = False
        for stream_id, fields in batch:
            self._last[key] = stream_id.decode()
            scope = fields[b"scope"].decode()
            if fields[b"op"] == b"purge":
                self._index.purge(scope)
                continue
            expires = float(fields[b"expires"])
            if expires <= now and math.isfinite(expires):
                continue
            turns = int(fields.get(b"turns", b"1"))  # absent: written by a replica of one turn per entry
            vector = np.frombuffer(fields[b"vector"], dtype=np.float32).reshape(turns, -1)
            self._index.add(scope, fields[b"id"].decode(), vector, expires)
            added = True
        return added
