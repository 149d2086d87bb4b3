"""The metrics' sums, as Prometheus reads them: buckets are `le` (upper bound included) and cumulative."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from sluicegate.metrics import Metrics
from sluicegate.storage.base import LogRecord


def record(latency_ms: float, **fields: Any) -> LogRecord:
    values: dict[str, Any] = {
        "id": "x", "ts": 0.0, "account": "local", "gateway": "default", "provider": "openai",
        "endpoint": "chat/completions", "method": "POST", "model": "gpt-4o-mini", "stream": False,
        "status": 200, "latency_ms": latency_ms, "ttfb_ms": latency_ms, "cache_status": "MISS",
        "cache_source": "exact",
    }  # fmt: skip
    return LogRecord(**(values | fields))


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = metrics.exposition().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_latency_buckets_include_their_bound_and_accumulate() -> None:
    metrics = Metrics(limiter_failures=lambda: 0, semantic_entries=lambda: 0)
    finished = [record(ms) for ms in (5.0, 5.001, 9.0, 400.0, 700_000.0)]
    await metrics.observe([(None, r) for r in finished])  # type: ignore[misc]  # the hook ignores exchanges
    got = samples(metrics)
    labels = {
        "gateway": "default",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "status": "200",
        "cache": "MISS",
        "cache_source": "exact",
    }

    def bucket(le: str) -> float:
        return got[("sluicegate_request_duration_seconds_bucket", frozenset((labels | {"le": le}).items()))]

    assert bucket("0.005") == 1  # 5 ms is at the bound: counted in it
    assert bucket("0.01") == 3
    assert bucket("0.5") == 4
    assert bucket("300.0") == 4
    assert bucket("+Inf") == 5  # 700 s is above every bound
    assert got[("sluicegate_request_duration_seconds_count", frozenset(labels.items()))] == 5
    total = got[("sluicegate_request_duration_seconds_sum", frozenset(labels.items()))]
    assert abs(total - sum(r.latency_ms for r in finished) / 1000) < 1e-9
    assert got[("sluicegate_requests_total", frozenset(labels.items()))] == 5


async def test_tokens_cost_hits_and_refusals_are_summed_per_label_set() -> None:
    metrics = Metrics(limiter_failures=lambda: 0, semantic_entries=lambda: 0)
    finished = [
        record(10, tokens_in=7, tokens_out=3, cost_usd=0.25),
        record(20, tokens_in=1, cost_usd=0.5),
        record(1, cache_status="HIT", tokens_in=100, tokens_out=100, cost_usd=0.0),
        record(1, status=429, rate_limited=True, ttfb_ms=None, cache_status="", cache_source=""),
    ]
    await metrics.observe([(None, r) for r in finished])  # type: ignore[misc]
    got = samples(metrics)
    model = {"gateway": "default", "provider": "openai", "model": "gpt-4o-mini"}
    assert got[("sluicegate_tokens_total", frozenset((model | {"direction": "in"}).items()))] == 108
    assert got[("sluicegate_tokens_total", frozenset((model | {"direction": "out"}).items()))] == 103
    assert got[("sluicegate_cost_usd_total", frozenset(model.items()))] == 0.75
    # The upstream's time to first byte: misses only (not the hit, not the refusal without one).
    assert got[("sluicegate_upstream_ttfb_seconds_count", frozenset(model.items()))] == 2
    assert got[("sluicegate_rate_limited_total", frozenset({("gateway", "default")}))] == 1
    hit = model | {"status": "200", "cache": "HIT", "cache_source": "exact"}
    assert got[("sluicegate_requests_total", frozenset(hit.items()))] == 1
