"""A Redis outage under a gateway with rate limits is logged once when it begins and once when it
ends, with how many requests took the policy: not a line for each request (859 lines in a 5 s
stall, before)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_redis_outage import QUESTION, chat, until
from tests.redis_process import RedisProcess

DURING = 20  # requests sent while Redis is down


def test_a_redis_outage_is_logged_once_with_the_requests_admitted_meanwhile(
    own_redis: RedisProcess,
    make_gateway: Callable[..., RunningGateway],
    fake: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = make_gateway(
        upstreams={"openai": fake.base_url}, cache_url=own_redis.url, rate_limit_failure="open"
    )
    gateway.configure(rate_limits=[{"limit": 1000, "period": 60}])
    assert "x-ratelimit-remaining" in chat(gateway, "default", QUESTION).headers  # counted in Redis
    caplog.set_level(logging.INFO, logger="sluicegate")
    own_redis.kill()
    uncounted = 0
    for _ in range(DURING):
        response = chat(gateway, "default", QUESTION)
        assert response.status_code == 200
        assert "x-ratelimit-remaining" not in response.headers  # admitted, fail-open
        uncounted += 1
    own_redis.start()

    def counted_again() -> bool:
        nonlocal uncounted
        response = chat(gateway, "default", QUESTION)
        assert response.status_code == 200
        if "x-ratelimit-remaining" in response.headers:
            return True
        uncounted += 1
        return False

    until(counted_again, "the rate limit counting in Redis again")
    limiter = [r.getMessage() for r in caplog.records if "rate limiter" in r.getMessage()]
    assert len(limiter) == 2, limiter
    assert limiter[0].startswith("rate limiter unavailable, admitting requests uncounted (fail-open)")
    ended = re.fullmatch(r"rate limiter available again after [\d.]+ s: (\d+) requests were .*", limiter[1])
    assert ended is not None, limiter[1]
    assert int(ended.group(1)) == uncounted
