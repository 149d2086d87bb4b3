"""A Redis that did the work and then stalled: the call fails after the read timeout and is not
sent again, so a decision is counted once (a retry after a timeout would run the script twice).
A connect that timed out sent nothing, and is tried again.
Needs Redis on 127.0.0.1 (skipped without it, failed with `SLUICEGATE_REQUIRE_SERVICES=1`)."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import pytest

from sluicegate.storage.limiter import Bucket, Claim, LimiterUnavailable
from sluicegate.storage.redis_limiter import RedisLimiter
from sluicegate.storage.redis_link import CONNECT_TIMEOUT, ConnectTimedOut, RedisConnection
from tests.fakes.tcp_proxy import TcpProxy


async def test_a_decision_whose_answer_stalls_is_counted_once(redis_url: str) -> None:
    parts = urlsplit(redis_url)
    assert parts.hostname is not None
    assert parts.port is not None
    bucket = Bucket("stalled", limit=100, period=3600, sliding=False)
    now = 1_000.0
    with TcpProxy((parts.hostname, parts.port)) as proxy:
        limiter = RedisLimiter(f"redis://127.0.0.1:{proxy.port}{parts.path}?{parts.query}")
        await limiter.open()
        try:
            first = await limiter.admit([Claim(bucket, 1)], now)  # the script loaded, a connection open
            assert first.usages[0].used == 1
            with proxy.holding_replies(), pytest.raises(LimiterUnavailable):
                await limiter.admit([Claim(bucket, 1)], now)  # Redis counts it; its answer stalls
        finally:
            await limiter.close()
    after = RedisLimiter(redis_url)
    try:
        third = await after.admit([Claim(bucket, 1)], now)
    finally:
        await after.close()
    assert third.usages[0].used == 3  # 1, the stalled one once, this one


async def test_a_connect_that_times_out_is_tried_again() -> None:
    """A listener whose queue is full drops new connects, so they time out: nothing was sent, and
    the connect is tried once more (`CONNECT_TIMEOUT` twice) before the call fails."""
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener:
        port = listener.getsockname()[1]
        waiting = [socket.socket() for _ in range(4)]  # fill the accept queue, never accepted
        for sock in waiting:
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
        connection = RedisConnection(f"redis://127.0.0.1:{port}/0")
        started = time.monotonic()
        try:
            with pytest.raises(ConnectTimedOut):
                await connection.client.ping()
        finally:
            await connection.close()
            for sock in waiting:
                sock.close()
    assert 2 * CONNECT_TIMEOUT <= time.monotonic() - started < 3 * CONNECT_TIMEOUT  # two tries, not three
