"""Prometheus metrics, fed from each batch of log records (so the request path pays nothing)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from sluicegate.exchange import Exchange
from sluicegate.storage.base import LogRecord

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_LABELS = ("gateway", "provider", "model", "status", "cache")


class _Request(NamedTuple):
    requests: Counter
    latency: Histogram


class _Model(NamedTuple):
    upstream_latency: Histogram
    tokens_in: Counter
    tokens_out: Counter
    cost: Counter


class Metrics:
    """The gateway's metrics in a registry of their own (one per app, so tests can run several)."""

    def __init__(self, limiter_failures: Callable[[], float], semantic_entries: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("sluicegate_requests", "Requests answered", _LABELS, registry=self.registry)
        self.latency = Histogram(
            "sluicegate_request_duration_seconds", "Total request latency", _LABELS,
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.upstream_latency = Histogram(
            "sluicegate_upstream_ttfb_seconds", "Time to the upstream's first byte (cache misses only)",
            ("gateway", "provider", "model"), buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.tokens = Counter(
            "sluicegate_tokens",
            "Tokens used",
            ("gateway", "provider", "model", "direction"),
            registry=self.registry,
        )
        self.cost = Counter(
            "sluicegate_cost_usd",
            "Estimated cost in USD",
            ("gateway", "provider", "model"),
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "sluicegate_rate_limited",
            "Requests refused by a rate limit",
            ("gateway",),
            registry=self.registry,
        )
        failures = Gauge(
            "sluicegate_rate_limiter_failures", "Limiter checks that could not reach the counters",
            registry=self.registry,
        )  # fmt: skip
        failures.set_function(limiter_failures)
        entries = Gauge(
            "sluicegate_semantic_entries",
            "Questions in this replica's semantic index",
            registry=self.registry,
        )
        entries.set_function(semantic_entries)

    async def observe(self, finished: list[tuple[Exchange, LogRecord]]) -> None:
        """A logbook hook: count each finished request once."""
        for _, record in finished:
            model = record.model or ""
            request = self._request_series(
                record.gateway, record.provider, model, record.status, record.cache_status or "NONE"
            )
            request.requests.inc()
            request.latency.observe(record.latency_ms / 1000)
            model_series = self._model_series(record.gateway, record.provider, model)
            if record.ttfb_ms is not None and record.cache_status != "HIT":
                model_series.upstream_latency.observe(record.ttfb_ms / 1000)
            if record.tokens_in:
                model_series.tokens_in.inc(record.tokens_in)
            if record.tokens_out:
                model_series.tokens_out.inc(record.tokens_out)
            if record.cost_usd:
                model_series.cost.inc(record.cost_usd)
            if record.rate_limited:
                self.rate_limited.labels(record.gateway).inc()

    # `labels()` validates and locks on every call; the children are looked up once per label set.
    @functools.lru_cache(maxsize=4096)  # noqa: B019  # one Metrics per app, kept for its lifetime
    def _request_series(self, gateway: str, provider: str, model: str, status: int, cache: str) -> _Request:
        labels = (gateway, provider, model, str(status), cache)
        return _Request(self.requests.labels(*labels), self.latency.labels(*labels))

    @functools.lru_cache(maxsize=4096)  # noqa: B019
    def _model_series(self, gateway: str, provider: str, model: str) -> _Model:
        return _Model(
            self.upstream_latency.labels(gateway, provider, model),
            self.tokens.labels(gateway, provider, model, "in"),
            self.tokens.labels(gateway, provider, model, "out"),
            self.cost.labels(gateway, provider, model),
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
