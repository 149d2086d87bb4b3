"""The `x-ratelimit-*` headers: an admitted request's tightest bucket (of the gateway's and the
token's rules, and of the limits its dynamic route's answering target was reached through), and a
refusal's figures with `Retry-After`."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sluicegate.buckets import RuleFacts, rule_facts
from sluicegate.exchange import RequestPlan
from sluicegate.gateway import plain
from sluicegate.storage.limiter import Usage, Verdict

RULE_HEADER = "x-ratelimit-rule"


def tightest_headers(
    verdict: Verdict, facts: Sequence[RuleFacts], route: Sequence[tuple[Usage, RuleFacts]] = ()
) -> dict[str, str]:
    usages = verdict.usages
    if len(usages) == 1 and not route:
        return bucket_headers(usages[0], facts[0])
    return tightest([*zip(usages, facts, strict=True), *route])


def tightest(figures: Sequence[tuple[Usage, RuleFacts]]) -> dict[str, str]:
    """The headers of the bucket with the least room left, relative to its limit (none: no headers)."""
    if not figures:
        return {}
    usage, facts = min(figures, key=lambda figure: figure[0].remaining / figure[0].bucket.limit)
    return bucket_headers(usage, facts)


def route_figures(plan: RequestPlan) -> list[tuple[Usage, RuleFacts]]:
    """The figures of the route limits the answering target was reached through, as reserved."""
    held, route_plan = plan.route_holds, plan.route_plan
    if held is None or not held.figures or route_plan is None or not route_plan.targets:
        return []
    target = route_plan.targets[plan.step_index]
    return [
        (held.figures[limit.where], rule_facts(limit.rule))
        for limit in target.limits
        if limit.where in held.figures
    ]


def refusal_headers(usage: Usage, facts: RuleFacts) -> dict[str, str]:
    """What a refusal by the rule of `facts` says: its bucket's `x-ratelimit-*` figures and
    `Retry-After` (a dynamic route's limit node refuses with the same: pipeline/dynamic.py)."""
    return {**bucket_headers(usage, facts), "Retry-After": str(max(math.ceil(usage.reset_after), 1))}


def bucket_headers(usage: Usage, facts: RuleFacts) -> dict[str, str]:
    """One bucket's figures as `x-ratelimit-*` headers, in plain decimals (USD for cost rules)."""
    return {
        "x-ratelimit-limit": plain(usage.bucket.limit),
        "x-ratelimit-remaining": plain(usage.remaining),
        "x-ratelimit-reset": f"{math.ceil(usage.reset_after):d}",
        RULE_HEADER: facts.label,
    }
