"""Analytics: what an account's gateways did over a time range, as totals and a time series.

The query and result models are shared by every backend; each backend computes the per-bucket
figures in its database (`storage/sqlite_analytics.py` for SQLite) and hands them to
`build_result`, which fills empty buckets with zeros and makes the totals the sum of the series.

Buckets are aligned to UTC (a day starts at 00:00 UTC); the first and last bucket of a series may
be cut by `from` and `to`, and then count only the part inside the range.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

Interval = Literal["minute", "hour", "day"]
GroupBy = Literal["route", "target"]  # dynamic routes: by route name, or by the target that answered
MAX_GROUPS = 100
INTERVAL_SECONDS: dict[Interval, int] = {"minute": 60, "hour": 3600, "day": 86400}
MAX_POINTS = 720  # 12 h of minutes or a month of hours: longer series would not answer in 200 ms
DEFAULT_RANGE = 24 * 3600.0
PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}


def choose_interval(since: float, until: float) -> Interval:
    """The interval of a series when none is asked: ~60–360 points up to 6 h, ≤ 168 up to a week."""
    span = until - since
    if span <= 6 * 3600:
        return "minute"
    if span <= 7 * 86400:
        return "hour"
    return "day"


class AnalyticsQuery(BaseModel):
    """Which requests to count: `[since, until)` in epoch seconds, optionally narrowed."""

    model_config = ConfigDict(frozen=True)

    account: str
    since: float
    until: float
    interval: Interval
    gateways: tuple[str, ...] | None = Field(None, description="only these gateways; None: all")
    provider: str | None = None
    model: str | None = None
    by: GroupBy | None = Field(None, description="also the figures of each route or target (`groups`)")

    @property
    def step(self) -> int:
        return INTERVAL_SECONDS[self.interval]

    def buckets(self) -> range:
        return aligned_buckets(self.since, self.until, self.step)

    def points(self) -> int:
        return bucket_count(self.buckets())


def aligned_buckets(since: float, until: float, step: int) -> range:
    """The aligned start of every `step`-long bucket that overlaps `[since, until)` (none when empty)."""
    if until <= since:
        return range(0)
    first = math.floor(since / step) * step
    return range(first, math.ceil(until / step) * step, step)


def bucket_count(buckets: range) -> int:
    """How many buckets (without building them: a range of 10³⁰ minutes is a 400, not a crash)."""
    return (buckets.stop - buckets.start) // buckets.step


class Counters(BaseModel):
    """Additive figures: a total is the sum of its series."""

    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = Field(
        0.0, description="as the provider stated it, else estimated from the price table, or the custom cost"
    )
    cache_hits: int = Field(0, description="answered by the exact cache")
    semantic_hits: int = Field(0, description="answered by the semantic cache")
    cache_misses: int = Field(
        0,
        description="looked up in the exact or semantic cache, then answered upstream",
    )
    tokens_from_cache: int = Field(0, description="tokens in + out of the answers served from the cache")
    time_saved_ms: float = Field(0.0, description="sum over cache hits of the original request's latency")
    rate_limited: int = Field(0, description="refused by a rate limit of the gateway")


COUNTERS = tuple(Counters.model_fields)


class Latency(BaseModel):
    """Origin latency in ms of the requests an upstream answered (their record's `upstream_status`):
    not cache hits, nor what the gateway answered itself (a refusal for a missing token, an unknown
    provider, a guardrail or a rate limit; a try that got no answer, a timeout), each request's
    whole latency as logged.

    Percentiles come from a log-scale histogram: within ±2.6% of the exact nearest-rank value,
    and never outside the bucket's fastest and slowest request. None when there was no such request.
    """

    requests: int = Field(0, description="requests an upstream answered")
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None


class Point(Counters):
    start: float = Field(description="the bucket's aligned start, epoch seconds")
    latency: Latency = Latency()


class Totals(Counters):
    latency: Latency = Latency()


class FeedbackSummary(BaseModel):
    """Human feedback given on the range's records (`PATCH …/logs/{id}`). Read from the records
    themselves, not the roll-ups (feedback arrives after the fact), so it follows log retention:
    feedback on records already deleted is no longer counted."""

    negative: int = Field(0, description="records given feedback -1 (thumbs down)")
    neutral: int = Field(0, description="records given feedback 0 (not evaluated)")
    positive: int = Field(0, description="records given feedback 1 (thumbs up)")
    scored: int = Field(0, description="records given a score")
    mean_score: float | None = Field(None, description="the mean of their scores (0-100); null if none")


class GuardrailsSummary(BaseModel):
    """What the guardrails found in the range's records (their `metadata.guardrails`, such as
    `request:redact:email, response:flag:phone`). Read from the records, like `FeedbackSummary`."""

    records: int = Field(0, description="records with at least one finding")
    by_action: dict[str, int] = Field(
        default_factory=dict, description="findings per action (block, redact, flag)"
    )
    by_entity: dict[str, int] = Field(
        default_factory=dict, description="findings per entity (email, phone, …)"
    )
    findings: dict[str, int] = Field(
        default_factory=dict, description="records per finding, as `side:action:entity`"
    )


def summarise_guardrails(rows: Iterable[tuple[str, int]]) -> GuardrailsSummary:
    """The summary from (metadata value, how many records carry it) pairs, grouped in the database."""
    records = 0
    findings: Counter[str] = Counter()
    for value, count in rows:
        records += count
        for finding in {part.strip() for part in value.split(",") if part.strip()}:
            findings[finding] += count
    by_action: Counter[str] = Counter()
    by_entity: Counter[str] = Counter()
    for finding, count in findings.items():
        parts = finding.split(":", 2)
        if len(parts) == 3:  # side:action:entity; anything else is counted in `findings` only
            by_action[parts[1]] += count
            by_entity[parts[2]] += count
    return GuardrailsSummary(
        records=records,
        by_action=dict(by_action.most_common()),
        by_entity=dict(by_entity.most_common()),
        findings=dict(findings.most_common()),
    )


class Group(BaseModel):
    """One route's or target's figures over the range, read from the records of routed requests
    (their `metadata.route`, as `FeedbackSummary` reads feedback): follows log retention."""

    key: str = Field(description="the route's name, or the target that answered as provider/model")
    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    mean_latency_ms: float | None = None


class AnalyticsResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    account: str
    since: float = Field(serialization_alias="from")
    until: float = Field(serialization_alias="to")
    interval: Interval
    interval_seconds: int
    gateways: list[str] | None
    provider: str | None
    model: str | None
    totals: Totals
    series: list[Point]
    providers: list[str] = Field(
        default_factory=list, description="providers seen that day or days (not narrowed by provider/model)"
    )
    models: list[str] = Field(default_factory=list, description="models seen, likewise: choices for filters")
    feedback: FeedbackSummary = FeedbackSummary()
    guardrails: GuardrailsSummary = GuardrailsSummary()
    by: GroupBy | None = None
    groups: list[Group] = Field(
        default_factory=list,
        description=f"with `by`: each route or target, most requests first (at most {MAX_GROUPS})",
    )


class AnalyticsSource(Protocol):
    """A backend that answers analytics queries (the SQLite and PostgreSQL databases)."""

    async def analytics(self, query: AnalyticsQuery) -> AnalyticsResult: ...


def build_result(
    query: AnalyticsQuery,
    counters: Mapping[int, Mapping[str, float]],
    latency: Mapping[int, Latency],
    total_latency: Latency,
    seen: tuple[list[str], list[str]] = ([], []),
    feedback: FeedbackSummary | None = None,
    guardrails: GuardrailsSummary | None = None,
    groups: Iterable[Sequence[Any]] = (),
) -> AnalyticsResult:
    """The result from a backend's per-bucket figures, keyed by bucket start: `counters` maps each
    name of `COUNTERS` to its value (ints stay ints). Missing buckets are zeros. `seen` lists the
    providers and models of the range's days, for a dashboard's filter choices; `feedback` sums up
    the range's feedback and `guardrails` its guardrails' findings; `groups` are rows of `Group`'s
    fields in order, for `query.by`."""
    zeros = Counters().model_dump()
    # model_construct: the figures come typed from the database; validating 1,500 points costs ~40 ms.
    series = [
        Point.model_construct(
            start=start, latency=latency.get(start, Latency()), **counters.get(start, zeros)
        )
        for start in query.buckets()
    ]
    sums = {name: sum(getattr(point, name) for point in series) for name in COUNTERS}
    return AnalyticsResult(
        account=query.account,
        since=query.since,
        until=query.until,
        interval=query.interval,
        interval_seconds=query.step,
        gateways=list(query.gateways) if query.gateways is not None else None,
        provider=query.provider,
        model=query.model,
        totals=Totals(latency=total_latency, **sums),
        series=series,
        providers=seen[0],
        models=seen[1],
        feedback=feedback or FeedbackSummary(),
        guardrails=guardrails or GuardrailsSummary(),
        by=query.by,
        groups=[Group(**dict(zip(Group.model_fields, row, strict=True))) for row in groups],
    )
