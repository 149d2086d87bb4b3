"""The semantic cache's trade-off on a gateway's own traffic, from its logged lookups.

Every semantic lookup is logged with its best candidate's similarity and the verifier's verdict
(`LogRecord.semantic_*`); candidates from 0.70 up are verified even below the threshold (after
the answer). So for a threshold t, the lookups that would have been hits are those whose
candidate reached t and was verified, and what they would have saved is what they cost upstream
(a miss's `cost_usd`) or would have cost (a hit's `saved_usd`). An estimate: a lookup served at a
lower threshold would not have stored its own answer, which later lookups might have found.

Shadow requests (`pipeline.shadow`) check hits against a fresh answer; the share that agreed is
the estimated precision, overall and for the hits at least as similar as each t.

A backend groups the range's records by similarity in hundredths (`Bin`) and `build_report`
makes the table; both backends share the SQL (`storage/semantic_whatif.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

THRESHOLDS = tuple(round(0.70 + step / 100, 2) for step in range(30))  # 0.70 … 0.99
_Z = 1.96  # 95 % for the Wilson interval


@dataclass(frozen=True, slots=True)
class Bin:
    """Records of one source (`semantic` lookups or `shadow` checks) whose similarity is in
    [hundredth / 100, (hundredth + 1) / 100); `hundredth` None: lookups that found no candidate."""

    source: str
    hundredth: int | None
    records: int
    verified: int = 0  # lookups whose candidate the verifier accepted
    unverified: int = 0  # lookups whose candidate was not judged
    savings_usd: float = 0.0  # what the verified ones cost or would have cost upstream
    hits: int = 0  # lookups served from the semantic cache
    hit_savings_usd: float = 0.0  # what those would have cost upstream
    checked: int = 0  # shadow checks that got a fresh answer
    agreed: int = 0  # of which agreed with the cached one


class SemanticBins(Protocol):
    """A backend that bins its logs' semantic lookups (the SQLite and PostgreSQL databases)."""

    async def semantic_bins(
        self, account: str, since: float, until: float, gateways: tuple[str, ...] | None
    ) -> list[Bin]: ...


class ThresholdRow(BaseModel):
    threshold: float
    hits: int = Field(description="lookups whose best candidate reached the threshold and was verified")
    hit_rate: float | None = Field(description="hits / lookups; null without lookups")
    savings_usd: float = Field(description="what those requests cost, or would have cost, upstream")
    unverified: int = Field(description="lookups whose candidate reached the threshold but was not judged")
    shadow_checked: int = Field(description="shadow checks of hits at least this similar")
    shadow_agreed: int
    precision: float | None = Field(description="shadow_agreed / shadow_checked; null without checks")


class ShadowSummary(BaseModel):
    requests: int = Field(0, description="shadow requests sent upstream")
    checked: int = Field(0, description="of which got a fresh answer to compare")
    agreed: int = Field(0, description="of which agreed with the cached answer")
    precision: float | None = Field(None, description="agreed / checked: the estimated precision")
    precision_low: float | None = Field(None, description="lower end of its 95 % (Wilson) interval")


class GatewayThreshold(BaseModel):
    configured: float = Field(description="the gateway's semantic_threshold")
    effective: float = Field(description="the threshold in force here, adapted under semantic_max_error")
    max_error: float | None


class SemanticReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    account: str
    since: float = Field(serialization_alias="from")
    until: float = Field(serialization_alias="to")
    gateways: list[str] | None
    lookups: int = Field(description="requests looked up in the semantic cache")
    with_candidate: int = Field(description="of which found a stored question in their scope")
    hits: int = Field(description="of which were served from the semantic cache")
    saved_usd: float = Field(description="what those hits would have cost upstream")
    thresholds: list[ThresholdRow]
    shadow: ShadowSummary
    effective: dict[str, GatewayThreshold] = Field(
        default_factory=dict, description="per gateway of the query: its thresholds on this replica"
    )


def build_report(
    account: str, since: float, until: float, gateways: list[str] | None, bins: list[Bin]
) -> SemanticReport:
    lookups = [b for b in bins if b.source == "semantic"]
    shadows = [b for b in bins if b.source == "shadow"]
    total = sum(b.records for b in lookups)
    rows = []
    for threshold in THRESHOLDS:
        floor = round(threshold * 100)
        above = [b for b in lookups if b.hundredth is not None and b.hundredth >= floor]
        checks = [b for b in shadows if b.hundredth is not None and b.hundredth >= floor]
        hits, checked, agreed = (
            sum(b.verified for b in above),
            sum(b.checked for b in checks),
            sum(b.agreed for b in checks),
        )
        rows.append(
            ThresholdRow(
                threshold=threshold,
                hits=hits,
                hit_rate=hits / total if total else None,
                savings_usd=sum(b.savings_usd for b in above),
                unverified=sum(b.unverified for b in above),
                shadow_checked=checked,
                shadow_agreed=agreed,
                precision=agreed / checked if checked else None,
            )
        )
    checked, agreed = sum(b.checked for b in shadows), sum(b.agreed for b in shadows)
    return SemanticReport(
        account=account,
        since=since,
        until=until,
        gateways=gateways,
        lookups=total,
        with_candidate=sum(b.records for b in lookups if b.hundredth is not None),
        hits=sum(b.hits for b in lookups),
        saved_usd=sum(b.hit_savings_usd for b in lookups),
        thresholds=rows,
        shadow=ShadowSummary(
            requests=sum(b.records for b in shadows),
            checked=checked,
            agreed=agreed,
            precision=agreed / checked if checked else None,
            precision_low=wilson_low(agreed, checked),
        ),
    )


def wilson_low(successes: int, trials: int) -> float | None:
    """The lower end of the Wilson score interval (95 %): a precision from 20 checks is not one
    from 2,000."""
    if not trials:
        return None
    p = successes / trials
    centre = p + _Z * _Z / (2 * trials)
    spread = _Z * math.sqrt(p * (1 - p) / trials + _Z * _Z / (4 * trials * trials))
    return max(0.0, (centre - spread) / (1 + _Z * _Z / trials))
