"""The bench's count of Redis round trips (MONITOR through redis-cli), on the local Redis (skipped
without it or without redis-cli, failed with `SLUICEGATE_REQUIRE_SERVICES=1`)."""

from __future__ import annotations

import shutil

import redis
from bench.redis_probe import RedisProbe

from tests.conftest import REDIS_URL, require_service


def test_round_trips_counts_what_a_client_sent_while_the_action_ran() -> None:
    if shutil.which("redis-cli") is None:
        require_service("redis-cli", "not installed")
    probe = RedisProbe.for_url(REDIS_URL)
    client = redis.Redis.from_url(probe.url)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        require_service("Redis", str(exc))
    key = probe.prefix + "counted"

    def action() -> None:
        client.set(key, "1")
        client.eval("return redis.call('GET', KEYS[1])", 1, key)

    try:
        assert probe.round_trips(action) == 2
    finally:
        client.delete(key)
        client.close()
