"""The bench's count of Redis round trips (MONITOR through redis-cli), read from MONITOR lines; its
run on the local Redis is tests/integration/backends/test_redis_probe.py."""

from __future__ import annotations

from bench.redis_probe import sent_under


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
