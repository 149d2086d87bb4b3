"""Which finished jobs' usage the gateway has already counted, so that reading a job again counts nothing.

A Replicate prediction reports its tokens in every later read of it (each poll of `GET
/predictions/{id}` after it finished, the create that answered finished with `Prefer: wait`), so
the first read that reports them counts them and the others count 0 (`Usage.job`,
`outcome/outcomes.py`). `claim(key, by)` remembers `by` (the log id of the request that counted)
under `key` for `ttl` seconds and answers None, or answers the `by` already kept; `claimed(key)`
answers who claimed `key`, claiming nothing (the gateway's own reads of a running job ask it
first, and stop once a client's read has counted it: pipeline/jobs.py).

- In process (`MemoryCounted`): at most `max_keys`, oldest first out (every key lives as long, so
  the oldest is also the first to expire). Each process keeps its own: the workers of
  `serve --workers N` without Redis can each count a prediction once (so none of them reads jobs
  itself: `shared` is False).
- In Redis (`RedisCounted`), when the cache is: one `SET NX` per finished read, shared by every
  replica. Redis unreachable: the read counts (spend is not lost; it may be counted twice).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from sluicegate.storage.redis_link import RedisConnection

# A prediction is polled for minutes at most, and Replicate deletes its input and output after an
# hour: a day covers every later read that still reports its tokens.
TTL: Final = 86_400.0
MAX_KEYS: Final = 100_000  # about 20 MB at most, in process


class CountedUnavailable(Exception):
    """The store did not answer (Redis unreachable)."""


class CountedOnce(Protocol):
    # Whether every process of the gateway sees the same claims (Redis), not only this one.
    shared: bool

    async def claim(self, key: str, by: str) -> str | None:
        """None if `key` was not claimed yet (now it is, by `by`), else who claimed it."""
        ...

    async def claimed(self, key: str) -> str | None:
        """Who claimed `key`, None if nobody has (yet); claims nothing."""
        ...


class MemoryCounted:
    shared = False

    def __init__(
        self, ttl: float = TTL, max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._max_keys = max_keys
        self._clock = clock
        self._keys: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def claim(self, key: str, by: str) -> str | None:
        now = self._clock()
        kept = self._kept(key, now)
        if kept is not None:
            return kept[1]
        if len(self._keys) >= self._max_keys:
            self._keys.popitem(last=False)
        self._keys[key] = (now + self._ttl, by)
        return None

    async def claimed(self, key: str) -> str | None:
        kept = self._kept(key, self._clock())
        return None if kept is None else kept[1]

    def _kept(self, key: str, now: float) -> tuple[float, str] | None:
        while self._keys and next(iter(self._keys.values()))[0] <= now:
            self._keys.popitem(last=False)  # expired
        return self._keys.get(key)


# KEYS[1]: the job's key. ARGV: who claims it, the time to live (ms). The claimer kept, or false.
_CLAIM = """
local kept = redis.call('GET', KEYS[1])
if kept then
  return kept
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""


class RedisCounted:
    shared = True

    def __init__(self, redis: RedisConnection | str, ttl: float = TTL) -> None:
        from sluicegate.storage.redis_link import RedisLink

        self.link = RedisLink(redis, "counted:")
        self._ttl_ms = max(int(ttl * 1000), 1)
        self._claim = self.link.client.register_script(_CLAIM)

    async def claim(self, key: str, by: str) -> str | None:
        with self.link.attempt(CountedUnavailable):
            kept = await self._claim(keys=[self.link.prefix + key], args=[by, self._ttl_ms])
        return _text(kept)

    async def claimed(self, key: str) -> str | None:
        with self.link.attempt(CountedUnavailable):
            kept = await self.link.client.get(self.link.prefix + key)
        return _text(kept)

    async def close(self) -> None:
        await self.link.close()


def _text(kept: object) -> str | None:
    """A claimer as Redis answers it (bytes; None for nil, which the script's false is too), as text."""
    if kept is None:
        return None
    return kept.decode() if isinstance(kept, bytes) else str(kept)


def counted_once(redis: RedisConnection | None) -> CountedOnce:
    """In Redis when the cache is (replicas agree), else in process."""
    return RedisCounted(redis) if redis is not None else MemoryCounted()
