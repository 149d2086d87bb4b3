"""The metrics' sums, as Prometheus reads them: buckets are `le` (upper bound included) and cumulative."""

from __future__ import annotations

from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy
from prometheus_client.parser import text_string_to_metric_families

from sluicegate.exchange import Exchange, Step
from sluicegate.gateway import Gateway, GatewaySettings
from sluicegate.metrics import OTHER, Metrics
from sluicegate.providers import REGISTRY
from sluicegate.providers.base import RequestFacts, Route
from sluicegate.storage.base import LogRecord


def record(latency_ms: float, **fields: Any) -> LogRecord:
    values: dict[str, Any] = {
        "id": "x", "ts": 0.0, "account": "local", "gateway": "default", "provider": "openai",
        "endpoint": "chat/completions", "method": "POST", "model": "gpt-4o-mini", "stream": False,
        "status": 200, "latency_ms": latency_ms, "ttfb_ms": latency_ms, "cache_status": "MISS",
        "cache_source": "exact",
    }  # fmt: skip
    return LogRecord(**(values | fields))


def new_metrics(models_per_provider: int = 100) -> Metrics:
    return Metrics(
        limiter_failures=lambda: 0,
        semantic_entries=lambda: 0,
        providers=["openai"],
        models_per_provider=models_per_provider,
    )


def finished(*records: LogRecord, planned: bool = True) -> list[tuple[Exchange, LogRecord]]:
    """Each record with the exchange it was built from: one that reached its gateway and had a step
    planned, or (`planned=False`) one refused before either."""

    async def no_body() -> bytes:
        return b""

    pairs = []
    for r in records:
        route = Route(r.account, r.endpoint)
        headers = CIMultiDictProxy(CIMultiDict[str]())
        exchange = Exchange(r.gateway, r.provider, route, r.method, headers, no_body, status=r.status)
        if planned:
            exchange.gateway = Gateway(
                account=r.account, slug=r.gateway, name=r.gateway, settings=GatewaySettings(), created_at=0.0
            )
            facts = RequestFacts(model=r.model)
            exchange.steps = [Step(REGISTRY[r.provider], route, CIMultiDict(), b"", facts)]
        pairs.append((exchange, r))
    return pairs


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = metrics.exposition().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_latency_buckets_include_their_bound_and_accumulate() -> None:
    metrics = new_metrics()
    records = [record(ms) for ms in (5.0, 5.001, 9.0, 400.0, 700_000.0)]
    await metrics.observe(finished(*records))
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
    assert abs(total - sum(r.latency_ms for r in records) / 1000) < 1e-9
    assert got[("sluicegate_requests_total", frozenset(labels.items()))] == 5


async def test_tokens_cost_hits_and_refusals_are_summed_per_label_set() -> None:
    metrics = new_metrics()
    await metrics.observe(
        finished(
            record(10, tokens_in=7, tokens_out=3, cost_usd=0.25),
            record(20, tokens_in=1, cost_usd=0.5),
            record(1, cache_status="HIT", tokens_in=100, tokens_out=100, cost_usd=0.0),
            record(1, status=429, rate_limited=True, ttfb_ms=None, cache_status="", cache_source=""),
        )
    )
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


async def test_models_get_labels_of_their_own_only_after_a_success_and_up_to_the_cap() -> None:
    metrics = new_metrics(models_per_provider=2)
    await metrics.observe(
        finished(
            record(1, model="made-up", status=404),  # failed: not a label (yet)
            record(1, model="x" * 129),  # longer than any real model name
            record(1, model="gpt-4o"),
            record(1, model="made-up"),  # now it succeeded: the second and last label
            record(1, model="gpt-4o-mini"),  # over the cap
            record(1, model="gpt-4o"),  # labelled already: stays itself
        )
    )
    await metrics.observe(
        finished(record(1, gateway="nope", provider="gpt-pirate", model=None), planned=False)
    )
    requests = {
        (labels["gateway"], labels["provider"], labels["model"], labels["status"]): value
        for (name, pairs), value in samples(metrics).items()
        if name == "sluicegate_requests_total" and (labels := dict(pairs))
    }
    assert requests == {
        ("default", "openai", OTHER, "404"): 1,
        ("default", "openai", OTHER, "200"): 2,
        ("default", "openai", "gpt-4o", "200"): 2,
        ("default", "openai", "made-up", "200"): 1,
        (OTHER, OTHER, "", "200"): 1,
    }
