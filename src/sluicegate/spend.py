"""Spend reports: who spent what over a period — per token, user, team or model — read from the logs.

A request counts for the token it came with (`token_id` in its log record), and for the `user` and
`team` of its metadata (a token's own metadata merged in, its values first; see `allowance.py`).
Each backend groups the range's records in its database (`storage/sqlite_spend.py`,
`storage/postgres_spend.py`) and hands the groups and the trend to `build_spend`.

The remaining budget of each rule that applies to a spender is not in the logs: the endpoint
(`endpoints/spend.py`) reads it from the rate-limit counters and adds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from sluicegate.analytics import INTERVAL_SECONDS, aligned_buckets, bucket_count

Dimension = Literal["token", "user", "team", "model"]
SpendInterval = Literal["hour", "day"]
METADATA_FIELDS: dict[Dimension, str] = {"user": "user", "team": "team"}
FIGURES = ("requests", "tokens_in", "tokens_out", "cost_usd", "unpriced")


class SpendQuery(BaseModel):
    """Which records to sum: `[since, until)` in epoch seconds, grouped `by` one dimension."""

    model_config = ConfigDict(frozen=True)

    account: str
    by: Dimension
    since: float
    until: float
    interval: SpendInterval
    gateways: tuple[str, ...] | None = Field(None, description="only these gateways; None: all")
    key: str | None = Field(None, description="only this spender (its value of `by`), for its trend")
    limit: int = 50

    @property
    def step(self) -> int:
        return INTERVAL_SECONDS[self.interval]

    def buckets(self) -> range:
        """The aligned start of every trend bucket that overlaps the range."""
        return aligned_buckets(self.since, self.until, self.step)

    def points(self) -> int:
        return bucket_count(self.buckets())


class SpendFigures(BaseModel):
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = Field(
        0.0, description="as the provider stated it, else estimated from the price table, or the custom cost"
    )
    unpriced: int = Field(
        0,
        description="requests whose model has no known price (their cost is not in cost_usd; a cache hit"
        " of one cost nothing, what it saved is unknown); an error answer without usage cost nothing and"
        " is not one",
    )


class BudgetUse(BaseModel):
    """One rule's bucket as the counters hold it now."""

    gateway: str | None = Field(description="the gateway whose rule it is; null for a token's own rule")
    rule: dict[str, object]
    label: str
    unit: str
    limit: float
    used: float
    remaining: float
    reset_after: float = Field(description="seconds until the window frees room")


class Spender(SpendFigures):
    key: str | None = Field(description="the token id, user, team or model; null: requests without one")
    name: str | None = Field(None, description="a token's name (for an unlimited caller)")
    budgets: list[BudgetUse] = Field(
        default_factory=list,
        description="rules counted per this spender (key null: the one bucket requests without one share)",
    )


class SpendPoint(SpendFigures):
    start: float = Field(description="the bucket's aligned start, epoch seconds")


class SpendResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    account: str
    by: Dimension
    since: float = Field(serialization_alias="from")
    until: float = Field(serialization_alias="to")
    interval: SpendInterval
    gateways: list[str] | None
    key: str | None
    totals: SpendFigures
    result: list[Spender] = Field(description="the top spenders by cost, then requests")
    spenders: int = Field(description="how many spenders there were in all (result holds at most `limit`)")
    series: list[SpendPoint] = Field(description="the trend: spend per interval (of `key` alone if given)")
    budgets: list[BudgetUse] = Field(
        default_factory=list, description="gateway-wide rules (scope gateway) of the gateways counted"
    )
    budget_error: str | None = Field(None, description="why remaining budgets could not be read, if so")


class SpendSource(Protocol):
    """A backend that sums spend from its logs (the SQLite and PostgreSQL databases)."""

    async def spend(self, query: SpendQuery) -> SpendResult: ...


Row = tuple[object, ...]  # a group or bucket, then FIGURES in order


def build_spend(query: SpendQuery, groups: Iterable[Row], points: Mapping[int, Row]) -> SpendResult:
    """The result from a backend's groups (key, figures…) and trend (bucket start → figures…)."""
    spenders = [Spender(key=None if key is None else str(key), **_figures(rest)) for key, *rest in groups]
    # The most spent first; requests without a spender after those with one that spent as much.
    spenders.sort(key=lambda s: (-s.cost_usd, -s.requests, s.key is None, s.key or ""))
    totals = {name: sum(getattr(s, name) for s in spenders) for name in FIGURES}
    zeros = (0,) * len(FIGURES)
    return SpendResult(
        account=query.account,
        by=query.by,
        since=query.since,
        until=query.until,
        interval=query.interval,
        gateways=list(query.gateways) if query.gateways is not None else None,
        key=query.key,
        totals=SpendFigures.model_validate(totals),
        result=spenders[: query.limit],
        spenders=len(spenders),
        series=[SpendPoint(start=start, **_figures(points.get(start, zeros))) for start in query.buckets()],
    )


def _figures(values: Iterable[object]) -> dict[str, object]:
    figures = dict(zip(FIGURES, values, strict=True))
    return {name: value if value is not None else 0 for name, value in figures.items()}
