"""`/metrics`: Prometheus text with request counts, latency, tokens, cost and rate-limited counts."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as server:
        yield server


def samples(gateway: RunningGateway) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(gateway.url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_count_requests_tokens_cost_and_refusals(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    gateway.http.patch(
        "/api/v1/accounts/local/gateways/default",
        json={"settings": {"rate_limits": [{"limit": 2, "period": 60}]}},
    )
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "count me"}]}
    statuses = [
        httpx.post(f"{gateway.url}/v1/local/default/openai/chat/completions", json=body).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    gateway.wait_for_logs(3)
    found = samples(gateway)
    ok = frozenset(
        {
            ("gateway", "default"),
            ("provider", "openai"),
            ("model", "gpt-4o-mini"),
            ("status", "200"),
            ("cache", "NONE"),
            ("cache_source", ""),
        }
    )
    assert found[("sluicegate_requests_total", ok)] == 2
    assert found[("sluicegate_request_duration_seconds_count", ok)] == 2
    tokens_in = frozenset(
        {("gateway", "default"), ("provider", "openai"), ("model", "gpt-4o-mini"), ("direction", "in")}
    )
    assert found[("sluicegate_tokens_total", tokens_in)] == 2 * 8  # the fake counts 8 prompt tokens
    cost = frozenset({("gateway", "default"), ("provider", "openai"), ("model", "gpt-4o-mini")})
    assert found[("sluicegate_cost_usd_total", cost)] > 0
    assert found[("sluicegate_rate_limited_total", frozenset({("gateway", "default")}))] == 1
    assert found[("sluicegate_rate_limiter_failures", frozenset())] == 0
