"""Which buckets a request counts in: for each of the gateway's rules and the token's own, the
bucket of the request's value of the rule's scope (`buckets.py` names them). Worked out per request
on the admission path, so a gateway's rule list is read once and remembered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sluicegate.buckets import RuleFacts, absent_scope_value, bucket, gateway_key, rule_facts, token_key
from sluicegate.exchange import IncomingRequest, RequestPlan, Step
from sluicegate.gateway import Gateway, RateLimitRule
from sluicegate.storage.limiter import Bucket, Hold
from sluicegate.tokens import Token


class RuleSet(NamedTuple):
    """What a list of rules alone decides, worked out once per list (a gateway's rules stay one
    list until its settings change): each rule's facts, whether any counts tokens or cost, the
    first cost rule (prices are needed), and the buckets when no rule's bucket depends on the
    request (all scoped to the gateway), else None."""

    facts: tuple[RuleFacts, ...]
    metered: bool
    cost_rule: RateLimitRule | None
    buckets: tuple[Bucket, ...] | None


_RULE_SETS: dict[int, tuple[Sequence[RateLimitRule], str, RuleSet]] = {}
_RULE_SETS_KEPT = 1024


def rule_set(rules: Sequence[RateLimitRule], own: int, request: IncomingRequest) -> RuleSet:
    """`rules`' rule set, remembered by the list's identity when they are a gateway's own."""
    where = f"{request.account}/{request.gateway_slug}"
    remembered = own == len(rules)  # a token's rules make a new list per request
    if remembered:
        cached = _RULE_SETS.get(id(rules))
        if cached is not None and cached[0] is rules and cached[1] == where:
            return cached[2]
    facts = tuple(rule_facts(rule) for rule in rules)
    fixed = remembered and all(rule.scope == "gateway" for rule in rules)
    ruled = RuleSet(
        facts,
        any(rule.unit != "requests" for rule in rules),
        next((rule for rule in rules if rule.unit == "cost"), None),
        tuple(
            bucket(rule, gateway_key(request.account, request.gateway_slug, facts[i].counter_at(i), ""))
            for i, rule in enumerate(rules)
        )
        if fixed
        else None,
    )
    if remembered:
        if len(_RULE_SETS) >= _RULE_SETS_KEPT:
            _RULE_SETS.clear()
        _RULE_SETS[id(rules)] = (rules, where, ruled)
    return ruled


def gateway_and_token_rules(gateway: Gateway, token: Token | None) -> tuple[Sequence[RateLimitRule], int]:
    """The gateway's rules, then the token's own, and how many are the gateway's."""
    rules: Sequence[RateLimitRule] = gateway.settings.rate_limits
    own = len(rules)
    if token is not None and token.rules:
        rules = [*rules, *token.rules]
    return rules, own


def taken_over(own: int, buckets: Sequence[Bucket], plan: RequestPlan) -> dict[int, dict[str, Hold]]:
    """For each of the first `own` rules (the gateway's) whose bucket in `buckets` the request's
    dynamic route reserved in already (limit nodes repeating it, see `shared_bucket`), the route's
    holds there, by each node's place: together they are the rule's claim for the request, which
    claims only what they fall short of (and counts the request once, in one of them)."""
    held = plan.route_holds
    if held is None or not held.holds or not own:
        return {}
    index = {bucket.key: i for i, bucket in enumerate(buckets[:own])}
    taken: dict[int, dict[str, Hold]] = {}
    for where, hold in held.holds.items():
        i = index.get(hold.bucket.key)
        if i is not None:
            taken.setdefault(i, {})[where] = hold
    return taken


def request_buckets(
    rules: Sequence[RateLimitRule],
    ruled: RuleSet,
    own: int,
    request: IncomingRequest,
    token: Token | None,
    plan: RequestPlan,
    metadata: dict[str, Any],
) -> Sequence[Bucket]:
    """The bucket each rule counts this request in: a gateway rule's for the request's value of
    its scope, a token rule's for the token (see `buckets.py`)."""
    if ruled.buckets:
        return ruled.buckets
    step = plan.steps[0] if plan.steps else None
    buckets = []
    for index, rule in enumerate(rules):
        facts = ruled.facts[index]
        if index >= own and token is not None:
            key = token_key(request.account, token.id, facts.counter_at(index - own))
        else:
            scope = _scope_value(rule.scope, request, token, step, metadata)
            key = gateway_key(request.account, request.gateway_slug, facts.counter_at(index), scope)
        buckets.append(bucket(rule, key))
    return buckets


def shared_bucket(rule: RateLimitRule, scope: str, request: IncomingRequest, gateway: Gateway) -> Bucket:
    """The bucket a dynamic route's limit node counts in: the gateway rule's own when the route
    repeats one of the gateway's `rate_limits` (so both count together), else one keyed by the
    rule's content. `scope` is the request's scope value, as `bucket_for` computes it."""
    index = gateway_rule_index(rule, gateway)
    facts = rule_facts(rule if index is None else gateway.settings.rate_limits[index])
    counter = f"route.{facts.fingerprint}" if index is None else facts.counter_at(index)
    return bucket(rule, gateway_key(request.account, request.gateway_slug, counter, scope))


def gateway_rule_index(rule: RateLimitRule, gateway: Gateway) -> int | None:
    """Where the gateway's `rate_limits` hold a rule counting what `rule` counts, if they do."""
    rules = gateway.settings.rate_limits
    fingerprint = rule_facts(rule).fingerprint
    return next((i for i, own in enumerate(rules) if rule_facts(own).fingerprint == fingerprint), None)


def _scope_value(
    scope: str, request: IncomingRequest, token: Token | None, step: Step | None, metadata: dict[str, Any]
) -> str:
    if scope == "gateway":
        return ""
    if scope == "provider":
        return step.provider.name if step else request.provider_name
    if scope == "model":
        return (step.facts.model if step else None) or absent_scope_value(scope)
    if scope == "token":
        return token.id if token is not None else absent_scope_value(scope)
    field = scope.removeprefix("metadata.")
    return str(metadata[field]) if field in metadata else absent_scope_value(scope)
