"""The metrics' sums, as Prometheus reads them: buckets are `le` (upper bound included) and cumulative."""

from __future__ import annotations

import dataclasses

from multidict import CIMultiDict
from prometheus_client.parser import text_string_to_metric_families

from sluicegate import metrics_group
from sluicegate.exchange import Exchange, Step
from sluicegate.exchange_records import Attempt
from sluicegate.gateway import Gateway
from sluicegate.metrics import OTHER, Metrics
from sluicegate.outcome import Outcome
from sluicegate.providers.base import RequestFacts
from sluicegate.providers.openai import OPENAI
from sluicegate.types import CacheSource, CacheStatus, Usage
from tests.pipeline.test_log import exchange as bare_exchange


def new_metrics(models_per_provider: int = 100) -> Metrics:
    return Metrics(
        limiter_failures=lambda: 0,
        semantic_entries=lambda: 0,
        providers=["openai"],
        models_per_provider=models_per_provider,
    )


def finished(
    latency_ms: float,
    status: int = 200,
    cache: CacheStatus = CacheStatus.MISS,
    first_byte: bool = True,
    rate_limited: bool = False,
    model: str | None = "gpt-4o-mini",
    planned: bool = True,
) -> Exchange:
    """A finished request to `model` at openai through the gateway `default` that took
    `latency_ms` (its first byte too); `planned=False`: refused before a gateway or step was known."""
    done = bare_exchange()
    done.response.status, done.cache.status, done.limits.rate_limited = status, cache, rate_limited
    done.cache.source = CacheSource.NONE if cache == CacheStatus.NONE else CacheSource.EXACT
    # Started at 0, so that the latency is exactly `latency_ms`, as at a bucket's bound.
    done.request = dataclasses.replace(done.request, started=0.0)
    done.timings.finished_at = latency_ms / 1000
    done.timings.first_byte_at = done.timings.finished_at if first_byte else None
    if first_byte and cache != CacheStatus.HIT:  # it went upstream
        done.response.attempts = [Attempt(0, "openai", status, latency_ms)]
    if planned:
        done.gateway = Gateway(account="local", slug="default", name="default", created_at=0.0)
        done.plan.steps = [Step(OPENAI, done.request.route, CIMultiDict(), b"", RequestFacts(model=model))]
    return done


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = metrics.exposition().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


MODEL = {"account": "local", "gateway": "default", "provider": "openai", "model": "gpt-4o-mini"}
LABELS = MODEL | {"status": "200", "cache": "MISS", "cache_source": "exact"}


async def test_latency_buckets_include_their_bound_and_accumulate() -> None:
    metrics = new_metrics()
    latencies = (5.0, 5.001, 9.0, 400.0, 700_000.0)
    for ms in latencies:
        await metrics.observe(finished(ms), Outcome())
    got = samples(metrics)

    def bucket(le: str) -> float:
        return got[("sluicegate_request_duration_seconds_bucket", frozenset((LABELS | {"le": le}).items()))]

    assert bucket("0.005") == 1  # 5 ms is at the bound: counted in it
    assert bucket("0.01") == 3
    assert bucket("0.5") == 4
    assert bucket("300.0") == 4
    assert bucket("+Inf") == 5  # 700 s is above every bound
    assert got[("sluicegate_request_duration_seconds_count", frozenset(LABELS.items()))] == 5
    total = got[("sluicegate_request_duration_seconds_sum", frozenset(LABELS.items()))]
    assert abs(total - sum(latencies) / 1000) < 1e-6
    assert got[("sluicegate_requests_total", frozenset(LABELS.items()))] == 5


async def test_tokens_cost_hits_refusals_and_unpriced_are_summed_per_label_set() -> None:
    metrics = new_metrics()
    await metrics.observe(finished(10), Outcome(Usage(7, 3), 0.25))
    await metrics.observe(finished(20), Outcome(Usage(1, 0), 0.5))
    await metrics.observe(finished(1, cache=CacheStatus.HIT), Outcome(Usage(100, 100), 0.0))
    refused = finished(1, status=429, cache=CacheStatus.NONE, first_byte=False, rate_limited=True)
    await metrics.observe(refused, Outcome())
    await metrics.observe(finished(3), Outcome(Usage(2, 2), None, unpriced=True))
    got = samples(metrics)
    assert got[("sluicegate_tokens_total", frozenset((MODEL | {"direction": "in"}).items()))] == 110
    assert got[("sluicegate_tokens_total", frozenset((MODEL | {"direction": "out"}).items()))] == 105
    assert got[("sluicegate_cost_usd_total", frozenset(MODEL.items()))] == 0.75
    # The upstream's time to first byte: misses only (not the hit, not the refusal without one).
    assert got[("sluicegate_upstream_ttfb_seconds_count", frozenset(MODEL.items()))] == 3
    limited = frozenset({("account", "local"), ("gateway", "default")})
    assert got[("sluicegate_rate_limited_total", limited)] == 1
    assert got[("sluicegate_unpriced_requests_total", frozenset(MODEL.items()))] == 1
    hit = LABELS | {"status": "200", "cache": "HIT", "cache_source": "exact"}
    assert got[("sluicegate_requests_total", frozenset(hit.items()))] == 1


async def test_models_get_labels_of_their_own_only_after_a_success_and_up_to_the_cap() -> None:
    metrics = new_metrics(models_per_provider=2)
    for model, status in [
        ("made-up", 404),  # failed: not a label (yet)
        ("x" * 129, 200),  # longer than any real model name
        ("gpt-4o", 200),
        ("made-up", 200),  # now it succeeded: the second and last label
        ("gpt-4o-mini", 200),  # over the cap
        ("gpt-4o", 200),  # labelled already: stays itself
    ]:
        await metrics.observe(finished(1, status=status, model=model), Outcome())
    stray = finished(1, model=None, planned=False)
    route = dataclasses.replace(stray.request.route, account="nobody")
    stray.request = dataclasses.replace(
        stray.request, route=route, gateway_slug="nope", provider_name="gpt-pirate"
    )
    await metrics.observe(stray, Outcome())
    requests = {
        (labels["account"], labels["gateway"], labels["provider"], labels["model"], labels["status"]): value
        for (name, pairs), value in samples(metrics).items()
        if name == "sluicegate_requests_total" and (labels := dict(pairs))
    }
    assert requests == {
        ("local", "default", "openai", OTHER, "404"): 1,
        ("local", "default", "openai", OTHER, "200"): 2,
        ("local", "default", "openai", "gpt-4o", "200"): 2,
        ("local", "default", "openai", "made-up", "200"): 1,
        (OTHER, OTHER, OTHER, "", "200"): 1,  # no gateway resolved: no account of its own either
    }


async def test_one_slug_in_two_accounts_is_two_series_in_every_family() -> None:
    """`local/default` and `acme/default` are two tenants: never summed into one series."""
    metrics = Metrics(
        limiter_failures=lambda: 0,
        semantic_entries=lambda: 0,
        providers=["openai"],
        models_per_provider=100,
        circuits=lambda: {("local/default", "primary"): "open", ("acme/default", "primary"): "closed"},
        key_states=lambda: {("acme/default/openai", "main"): "disabled"},
        key_refusals=lambda: {("acme/default/openai", "main", 401): 1},
    )
    for account, count in (("local", 1), ("acme", 2)):
        for _ in range(count):
            done = finished(10, rate_limited=True)
            done.gateway = Gateway(account=account, slug="default", name="default", created_at=0.0)
            await metrics.observe(done, Outcome(Usage(7, 3), 0.25))
    got = samples(metrics)
    for account, count in (("local", 1), ("acme", 2)):
        model = MODEL | {"account": account}
        assert got[("sluicegate_requests_total", frozenset((LABELS | {"account": account}).items()))] == count
        assert got[("sluicegate_tokens_total", frozenset((model | {"direction": "in"}).items()))] == 7 * count
        assert got[("sluicegate_cost_usd_total", frozenset(model.items()))] == 0.25 * count
        limited = frozenset({("account", account), ("gateway", "default")})
        assert got[("sluicegate_rate_limited_total", limited)] == count
    gateway = {("account", "acme"), ("gateway", "default")}
    closed = frozenset(gateway | {("target", "primary"), ("state", "closed")})
    assert got[("sluicegate_circuit", closed)] == 1
    key = gateway | {("provider", "openai"), ("key", "main")}
    assert got[("sluicegate_provider_key", frozenset(key | {("state", "disabled")}))] == 1
    assert got[("sluicegate_provider_key_refusals_total", frozenset(key | {("status", "401")}))] == 1


async def test_the_workers_figures_add_up_and_their_views_of_shared_state_do_not() -> None:
    """`serve --workers N` (metrics_group.py): counters and histograms are summed over the workers;
    a circuit both workers see open, or Redis both find unreachable, counts once."""

    def worker(entries: int) -> Metrics:
        return Metrics(
            limiter_failures=lambda: 1,
            semantic_entries=lambda: entries,
            providers=["openai"],
            models_per_provider=100,
            circuits=lambda: {("local/default", "primary"): "open"},
        )

    workers = [worker(3), worker(5)]
    for metrics, latencies in zip(workers, [(5.0, 400.0), (9.0,)], strict=True):
        for ms in latencies:
            await metrics.observe(finished(ms), Outcome(Usage(7, 3), 0.25))
    first, second = workers
    text = metrics_group.exposition(first.registry, [second.figures()], workers=2).decode()
    got = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert got[("sluicegate_requests_total", frozenset(LABELS.items()))] == 3
    bucket = frozenset((LABELS | {"le": "0.01"}).items())
    assert got[("sluicegate_request_duration_seconds_bucket", bucket)] == 2  # 5 and 9 ms
    assert got[("sluicegate_tokens_total", frozenset((MODEL | {"direction": "in"}).items()))] == 21
    assert got[("sluicegate_rate_limiter_failures_total", frozenset())] == 2  # each worker's own
    circuit = frozenset(
        {("account", "local"), ("gateway", "default"), ("target", "primary"), ("state", "open")}
    )
    assert got[("sluicegate_circuit", circuit)] == 1
    assert got[("sluicegate_semantic_entries", frozenset())] == 5
    assert got[("sluicegate_workers", frozenset())] == 2
    assert got[("sluicegate_workers_reporting", frozenset())] == 2
