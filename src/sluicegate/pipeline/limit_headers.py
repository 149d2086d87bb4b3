"""The `x-ratelimit-*` headers: an admitted request's tightest bucket, and a refusal's figures
with `Retry-After`."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sluicegate.buckets import RuleFacts
from sluicegate.gateway import plain
from sluicegate.storage.limiter import Usage, Verdict

RULE_HEADER = "x-ratelimit-rule"


def tightest_headers(verdict: Verdict, facts: Sequence[RuleFacts]) -> dict[str, str]:
    usages = verdict.usages
    if len(usages) == 1:
        return bucket_headers(usages[0], facts[0])
    index = min(range(len(usages)), key=lambda i: usages[i].remaining / usages[i].bucket.limit)
    return bucket_headers(usages[index], facts[index])


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
