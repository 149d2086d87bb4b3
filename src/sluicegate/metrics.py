"""Prometheus metrics, fed from each batch of log records (so the request path pays nothing)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from sluicegate.exchange import Exchange
from sluicegate.storage.base import LogRecord

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_LABELS = ("gateway", "provider", "model", "status", "cache")


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
            labels = (
                record.gateway,
                record.provider,
                model,
                str(record.status),
                record.cache_status or "NONE",
            )
            self.requests.labels(*labels).inc()
            self.latency.labels(*labels).observe(record.latency_ms / 1000)
            if record.ttfb_ms is not None and record.cache_status != "HIT":
                self.upstream_latency.labels(record.gateway, record.provider, model).observe(
                    record.ttfb_ms / 1000
                )
            for direction, count in (("in", record.tokens_in), ("out", record.tokens_out)):
                if count:
                    self.tokens.labels(record.gateway, record.provider, model, direction).inc(count)
            if record.cost_usd:
                self.cost.labels(record.gateway, record.provider, model).inc(record.cost_usd)
            if record.rate_limited:
                self.rate_limited.labels(record.gateway).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
