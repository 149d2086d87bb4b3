"""Prometheus metrics, fed by the outcome step with each finished request (dictionary sums only).

The figures are plain numbers in dictionaries, summed per label set as each batch comes in, and
turned into Prometheus metric families only when `/metrics` is scraped (a custom collector, as
`prometheus_client` documents for data kept elsewhere). Its own `Counter.inc` and
`Histogram.observe` take a lock and validate on every call: six of them per request cost more
than building the request's whole log record. No `*_created` series: nothing here reads them, and
Prometheus' own client can be told to leave them out too (PROMETHEUS_DISABLE_CREATED_SERIES).

Label values come from requests, so each is bounded (`_Labels`): a client must not be able to
grow the exposition, and the process, by sending names it made up.

A gateway is named by two labels, as Prometheus keeps one dimension per label: `account` and
`gateway` (its slug), so `local/default` and `acme/default` are two series and `sum by (account)`
totals a tenant. Before, request figures had the slug alone (tenants' gateways of one slug merged)
and circuits and provider keys `gateway="account/slug"`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from sluicegate import metrics_group
from sluicegate.exchange import Exchange
from sluicegate.metrics_group import WorkerGroup
from sluicegate.naming import provider_and_endpoint
from sluicegate.outcome import Outcome

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# As prometheus_client's own Histogram writes them ("1.0", "300.0", "+Inf").
_BUCKET_LABELS = (*(floatToGoString(float(b)) for b in _LATENCY_BUCKETS), "+Inf")  # type: ignore[no-untyped-call]
# `cache`: HIT, MISS, BYPASS or "" (no cache applied), as the log record's `cache_status`;
# `cache_source`: which cache that is about (exact, semantic, or "" with ""; shadow, with "": a
# semantic hit checked upstream in shadow mode). Hit rate: HIT / (HIT + MISS), whichever cache answered.
_GATEWAY_LABELS = ("account", "gateway")
_LABELS = (*_GATEWAY_LABELS, "provider", "model", "status", "cache", "cache_source")
_MODEL_LABELS = (*_GATEWAY_LABELS, "provider", "model")
# Every name not labelled as itself. Not `other`: that is a valid gateway or provider slug.
OTHER = "_other"
_MAX_MODEL_LABEL = 128  # characters; real model names are far shorter


@dataclass(slots=True)
class _Histogram:
    """Observations per bucket (the last one is +Inf) and their sum, in seconds."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(_LATENCY_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(_LATENCY_BUCKETS, seconds)] += 1  # `le` buckets: upper bound included
        self.total += seconds

    def buckets(self) -> list[tuple[str, float]]:
        cumulative, running = [], 0
        for bound, count in zip(_BUCKET_LABELS, self.counts, strict=True):
            running += count
            cumulative.append((bound, float(running)))
        return cumulative


@dataclass(slots=True)
class _RequestSeries:
    requests: int = 0
    latency: _Histogram = field(default_factory=_Histogram)


@dataclass(slots=True)
class _ModelSeries:
    upstream_latency: _Histogram = field(default_factory=_Histogram)
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0


class _ReadCount(Collector):
    """A counter whose value is read from elsewhere when scraped (prometheus_client's `Counter` can
    only be incremented)."""

    def __init__(self, name: str, description: str, value: Callable[[], float]) -> None:
        self._name, self._description, self._value = name, description, value

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self._name, self._description, value=self._value())

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self._name, self._description)


class _Figures(Collector):
    """Every per-request figure, summed per label set; exposed as metric families when scraped."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, ...], _RequestSeries] = defaultdict(_RequestSeries)
        self.models: defaultdict[tuple[str, ...], _ModelSeries] = defaultdict(_ModelSeries)
        self.rate_limited: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.unpriced: defaultdict[tuple[str, ...], int] = defaultdict(int)
        self.guardrails: defaultdict[tuple[str, ...], int] = defaultdict(int)

    def collect(self) -> Iterator[Metric]:
        # Scrapes and batches both run on the event loop; the snapshots keep a scrape from another
        # thread (a custom registry user) from iterating a dict that grows meanwhile.
        requests, models = list(self.requests.items()), list(self.models.items())
        count = CounterMetricFamily("sluicegate_requests", "Requests answered", labels=_LABELS)
        latency = HistogramMetricFamily(
            "sluicegate_request_duration_seconds", "Total request latency", labels=_LABELS
        )
        for labels, series in requests:
            count.add_metric(labels, series.requests)
            latency.add_metric(labels, series.latency.buckets(), series.latency.total)
        yield count
        yield latency
        upstream = HistogramMetricFamily(
            "sluicegate_upstream_ttfb_seconds",
            "Time to the upstream's first byte (cache misses only)",
            labels=_MODEL_LABELS,
        )
        tokens = CounterMetricFamily("sluicegate_tokens", "Tokens used", labels=(*_MODEL_LABELS, "direction"))
        cost = CounterMetricFamily("sluicegate_cost_usd", "Estimated cost in USD", labels=_MODEL_LABELS)
        for labels, model in models:
            if any(model.upstream_latency.counts):
                upstream.add_metric(labels, model.upstream_latency.buckets(), model.upstream_latency.total)
            if model.tokens_in:
                tokens.add_metric((*labels, "in"), model.tokens_in)
            if model.tokens_out:
                tokens.add_metric((*labels, "out"), model.tokens_out)
            if model.cost:
                cost.add_metric(labels, model.cost)
        yield upstream
        yield tokens
        yield cost
        limited = CounterMetricFamily(
            "sluicegate_rate_limited", "Requests refused by a rate limit", labels=_GATEWAY_LABELS
        )
        for gateway, refused in list(self.rate_limited.items()):
            limited.add_metric(gateway, refused)
        yield limited
        unknown = CounterMetricFamily(
            "sluicegate_unpriced_requests",
            "Requests for a model without a known price (their cost is unknown)",
            labels=_MODEL_LABELS,
        )
        for labels, requests_unpriced in list(self.unpriced.items()):
            unknown.add_metric(labels, requests_unpriced)
        yield unknown
        guarded = CounterMetricFamily(
            "sluicegate_guardrail_findings",
            "Requests in which the gateway's guardrails found something, per direction, action and entity",
            labels=(*_GATEWAY_LABELS, "direction", "action", "entity"),
        )
        for labels, found in list(self.guardrails.items()):
            guarded.add_metric(labels, found)
        yield guarded


class _Labels:
    """Account, gateway, provider and model label values that a client cannot multiply.

    An account and gateway are themselves once a request resolved to the gateway (so an admin
    created it), else both `_other`; a provider once a step was planned for it or it is a known
    name; anything else is `_other`. A model becomes a label of its own only when a request with
    it succeeded on a known gateway and provider, and only for the first `models_per_provider`
    such models of each provider in this process.
    """

    def __init__(self, providers: Collection[str], models_per_provider: int) -> None:
        self._providers = frozenset(providers)
        self._models_per_provider = models_per_provider
        self._models: defaultdict[str, set[str]] = defaultdict(set)

    def of(self, exchange: Exchange, answered: str | None = None) -> tuple[str, str, str, str]:
        """The account, gateway, provider and model labels of a finished request (read from it
        alone, and `answered`: the model its answer named when the request named none)."""
        resolved = exchange.gateway
        account, gateway = (resolved.account, resolved.slug) if resolved is not None else (OTHER, OTHER)
        planned = exchange.provider
        if planned is not None:
            provider = planned.name
        else:  # named as its log record names it (a host-in-path request by its host's provider)
            named, _ = provider_and_endpoint(exchange)
            provider = named if named in self._providers else OTHER
        model = exchange.facts.model or answered or ""
        seen = self._models[provider]
        if not model or model in seen:
            return account, gateway, provider, model
        if (
            exchange.response.status < 400
            and OTHER not in (gateway, provider)
            and len(seen) < self._models_per_provider
            and len(model) <= _MAX_MODEL_LABEL
        ):
            seen.add(model)
            return account, gateway, provider, model
        return account, gateway, provider, OTHER


class _Circuits(Collector):
    """The circuit of each dynamic-route target this replica has tried, as last seen in the shared
    state: one series per (account, gateway, target) with its state as a label, value 1."""

    def __init__(self, circuits: Callable[[], Mapping[tuple[str, str], str]]) -> None:
        self._circuits = circuits

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "sluicegate_circuit", "Circuit state of a route target (closed, open, half_open)",
            labels=(*_GATEWAY_LABELS, "target", "state"),
        )  # fmt: skip
        for (gateway, target), state in list(self._circuits().items()):  # gateway: `account/slug`
            family.add_metric((*gateway.split("/", 1), target, str(state)), 1)
        yield family


class _ProviderKeys(Collector):
    """Stored provider keys this replica saw refused or change state: one series per key with its
    state as a label (value 1), and the refusals (401, 403, 429) counted per key and status. Key
    names are chosen by the gateway's admins (at most 50 per provider), never by a request."""

    def __init__(
        self,
        states: Callable[[], Mapping[tuple[str, str], str]],
        refusals: Callable[[], Mapping[tuple[str, str, int], int]],
    ) -> None:
        self._states = states
        self._refusals = refusals

    def collect(self) -> Iterator[Metric]:
        labels = (*_GATEWAY_LABELS, "provider", "key")
        family = GaugeMetricFamily(
            "sluicegate_provider_key", "State of a stored provider key (ok, cooling, disabled)",
            labels=(*labels, "state"),
        )  # fmt: skip
        for (pool, name), state in list(self._states().items()):  # pool: `account/gateway/provider`
            family.add_metric((*pool.split("/", 2), name, str(state)), 1)
        yield family
        refused = CounterMetricFamily(
            "sluicegate_provider_key_refusals", "Upstream answers that refused a stored key (401, 403, 429)",
            labels=(*labels, "status"),
        )  # fmt: skip
        for (pool, name, status), count in list(self._refusals().items()):
            refused.add_metric((*pool.split("/", 2), name, str(status)), count)
        yield refused


class Metrics:
    """The gateway's metrics in a registry of their own (one per app, so tests can run several).

    `providers` are the names that may label a request that reached no provider (the URL's
    provider segment); `models_per_provider` bounds the model labels of each provider.
    """

    def __init__(
        self,
        limiter_failures: Callable[[], float],
        semantic_entries: Callable[[], float],
        providers: Collection[str],
        models_per_provider: int,
        circuits: Callable[[], Mapping[tuple[str, str], str]] = dict,
        key_states: Callable[[], Mapping[tuple[str, str], str]] = dict,
        key_refusals: Callable[[], Mapping[tuple[str, str, int], int]] = dict,
    ) -> None:
        self.registry = CollectorRegistry()
        self.workers: WorkerGroup | None = None  # set in each worker of `serve --workers N`
        self.registry.register(_Circuits(circuits))
        self.registry.register(_ProviderKeys(key_states, key_refusals))
        self._labels = _Labels(providers, models_per_provider)
        self._figures = _Figures()
        self.registry.register(self._figures)
        self.counter(
            "sluicegate_rate_limiter_failures", "Limiter checks that could not reach the counters",
            limiter_failures,
        )  # fmt: skip
        entries = Gauge(
            "sluicegate_semantic_entries",
            "Questions in this replica's semantic index",
            registry=self.registry,
        )
        entries.set_function(semantic_entries)

    def gauge(self, name: str, description: str, value: Callable[[], float]) -> None:
        """A figure read when /metrics is scraped (e.g. the log spool's backlog)."""
        Gauge(name, description, registry=self.registry).set_function(value)

    def counter(self, name: str, description: str, value: Callable[[], float]) -> None:
        """A count since start that only grows, read when /metrics is scraped (`name_total`)."""
        self.registry.register(_ReadCount(name, description, value))

    async def observe(self, exchange: Exchange, outcome: Outcome) -> None:
        """The outcome sink: count one finished request."""
        figures = self._figures
        account, gateway, provider, model = self._labels.of(exchange, outcome.model)
        response, timings = exchange.response, exchange.timings
        cache = str(exchange.cache.status)  # "" where no cache applied, as in the log record
        started = exchange.request.started
        labels = (account, gateway, provider, model, str(response.status), cache, str(exchange.cache.source))
        request = figures.requests[labels]
        request.requests += 1
        request.latency.observe((timings.finished_at or started) - started)
        series = figures.models[(account, gateway, provider, model)]
        if response.attempts and timings.first_byte_at is not None:  # only what went upstream
            series.upstream_latency.observe(timings.first_byte_at - started)
        usage = outcome.usage
        if usage is not None:
            series.tokens_in += usage.input_tokens
            series.tokens_out += usage.output_tokens
        series.cost += outcome.cost_usd or 0.0
        if exchange.limits.rate_limited:
            figures.rate_limited[(account, gateway)] += 1
        if outcome.unpriced:
            figures.unpriced[(account, gateway, provider, model)] += 1
        # Entities are built-in names or the gateway's own rule names: bounded by its admins.
        for finding in exchange.guardrails.findings:
            direction, action, entity = finding.split(":", 2)
            figures.guardrails[(account, gateway, direction, action, entity)] += 1

    def exposition(self) -> bytes:
        """This process's figures."""
        return generate_latest(self.registry)

    def figures(self) -> bytes:
        """This process's figures, for another worker's scrape (metrics_group.py)."""
        return metrics_group.dump(self.registry)

    async def scrape(self) -> bytes:
        """What /metrics answers: with `workers` (`serve --workers N`), the whole group's figures."""
        if self.workers is None:
            return self.exposition()
        return metrics_group.exposition(self.registry, await self.workers.others(), self.workers.count)
