"""The bench's count of Redis round trips (MONITOR through redis-cli), on the local Redis."""

from __future__ import annotations

import shutil

import redis
from bench.redis_probe import RedisProbe, sent_under

from tests.conftest import REDIS_URL, require_service


def test_a_scripts_own_commands_and_other_prefixes_are_not_round_trips() -> None:
    lines = [
        '1.0 [0 127.0.0.1:5000] "GET" "bench-1:cache:a"',
        '1.1 [0 127.0.0.1:5000] "EVALSHA" "abc" "2" "bench-1:cache:a" "bench-1:rl:b"',
        '1.2 [0 lua] "GET" "bench-1:cache:a"',
        '1.3 [0 127.0.0.1:5001] "GET" "other:cache:a"',
        '1.4 [0 127.0.0.1:5002] "echo" "bench-1:end-1"',
        '1.5 [0 127.0.0.1:5000] "SET" "bench-1:cache:b"',
    ]
    assert sent_under(lines, "bench-1:", "bench-1:end-1") == 2


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
