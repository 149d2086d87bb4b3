"""Rate and spend limits: the gateway's rules and the token's own, checked before a request may
go upstream.

Placed after the cache, so hits are never counted (with the cache and counters in Redis, request
rules are decided with the cache lookup, in one round trip: admit_ahead.py). A `requests` rule
counts the request on admission. A `tokens` or `cost` rule reserves an estimate (prompt tokens
counted, plus the answer's cap or the rule's `reserve`, priced for cost) in the same atomic check,
and refuses when it does not fit; `settle`, an outcome sink, replaces the reservation with the real
usage once the response has completed, or releases it when the request failed. Concurrent requests
can then overshoot a limit only by what their estimates under-count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from sluicegate.buckets import RuleFacts
from sluicegate.errors import RateLimited, ServiceUnavailable, UnpricedModel
from sluicegate.exchange import ClientOptions, Exchange, IncomingRequest, Reply, RequestPlan, Step
from sluicegate.gateway import Gateway, RateLimitRule
from sluicegate.outcome import Outcome
from sluicegate.outcome.estimate import Estimator, StepEstimate
from sluicegate.pipeline import Handler
from sluicegate.pipeline.limit_headers import bucket_headers, refusal_headers, route_figures, tightest_headers
from sluicegate.pipeline.limiter_outage import LimiterOutage
from sluicegate.pipeline.reservation_refusal import reservation_refusal
from sluicegate.pipeline.rule_buckets import (
    RuleSet,
    gateway_and_token_rules,
    request_buckets,
    rule_set,
    taken_over,
)
from sluicegate.storage.cache_admission import Admission
from sluicegate.storage.limiter import Bucket, Claim, Hold, Limiter, LimiterUnavailable, Verdict, unreserved
from sluicegate.tokens import Token

_log = logging.getLogger(__name__)
PRICING_HELP = (
    "price it with a cf-aig-custom-cost header, the gateway's fallback_price setting or an entry in "
    "the price override table, or set the gateway's allow_unpriced to admit it with its cost uncounted"
)


class RateLimit:
    def __init__(
        self,
        limiter: Limiter,
        estimator: Estimator,
        fail_open: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limiter = limiter
        self._estimator = estimator
        self._fail_open = fail_open
        self._clock = clock
        self.failures = 0  # calls that could not reach the limiter (exported as a metric)
        self._outage = LimiterOutage(fail_open)  # logged once when it begins and once when it ends

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        gateway = exchange.gateway
        assert gateway is not None, "Resolve runs first"
        limits = exchange.limits
        ahead, limits.admitted_ahead = limits.admitted_ahead, None
        try:
            admitted = await self.decide(
                exchange.request, gateway, exchange.token, exchange.plan, exchange.options, ahead
            )
        except RateLimited:
            limits.rate_limited = True
            raise
        if admitted is None:
            return await call_next(exchange)
        limits.holds = admitted.verdict.holds
        if admitted.taken:  # the route's holds in these rules' buckets are theirs now
            route_holds = exchange.plan.route_holds
            assert route_holds is not None, "taken from the route's holds"
            for where in admitted.taken:
                del route_holds.holds[where]
            limits.holds += tuple(admitted.taken.values())
        reply = await call_next(exchange)
        route = route_figures(exchange.plan)
        reply.headers.update(tightest_headers(admitted.verdict, admitted.facts, route))
        return reply

    async def decide(
        self,
        request: IncomingRequest,
        gateway: Gateway,
        token: Token | None,
        plan: RequestPlan,
        options: ClientOptions,
        ahead: Admission | None = None,
    ) -> Admitted | None:
        """The verdict of the gateway's and the token's rules on the request (`ahead`: the one
        made with the cache lookup, taken as it is): raises `RateLimited` when a rule refuses,
        `UnpricedModel` when a cost rule cannot price it; None when no rule applies. With the
        limiter down and the policy to admit, admitted with no figures and holds of nothing."""
        rules, own = gateway_and_token_rules(gateway, token)
        if not rules:
            return None
        ruled = rule_set(rules, own, request)
        route_held = plan.route_holds is not None and bool(plan.route_holds.holds)
        buckets = (
            request_buckets(rules, ruled, own, request, token, plan, options.metadata)
            if ahead is None or route_held
            else ()
        )
        # A rule whose bucket the request's route reserved in already claims only what that falls
        # short of: `claimed` are the rules that do claim, by index.
        taken = taken_over(own, buckets, plan) if route_held else {}
        claims: list[Claim] = []
        estimates: list[StepEstimate] = []
        try:
            if ahead is not None:  # requests rules only: a route's hold is a whole claim
                verdict = ahead.verdict
                claimed = [i for i in range(len(rules)) if i not in taken]
            else:
                claimed, claims, estimates = await self._claims(
                    rules, ruled, buckets, taken, request, gateway, plan, options
                )
                verdict = await self._limiter.admit(claims, self._clock()) if claims else Verdict(True, ())
        except LimiterUnavailable as exc:
            self.failures += 1
            self._outage.failed(exc)
            if not self._fail_open:
                raise ServiceUnavailable("the rate limiter is unavailable; requests are refused") from exc
            # Admitted unchecked, not uncharged: holds of nothing, which settle counts what it used
            # once the limiter answers (none in a bucket the request's route holds in already).
            now = self._clock()
            uncounted = tuple(
                unreserved(bucket, now)
                for index, bucket in enumerate(buckets)
                if index not in taken and not bucket.counts_requests
            )
            return Admitted(Verdict(True, (), holds=uncounted), (), {})
        self._outage.decided()
        held = {where: hold for holds in taken.values() for where, hold in holds.items()}
        if len(claimed) < len(rules):
            rules, own = [rules[i] for i in claimed], sum(i < own for i in claimed)
            facts: Sequence[RuleFacts] = [ruled.facts[i] for i in claimed]
        else:
            facts = ruled.facts
        if not verdict.allowed:
            refused = verdict.refused_by
            assert refused is not None, "a refusal names its bucket"
            index = verdict.usages.index(refused)
            rule = rules[index]
            headers = bucket_headers(refused, facts[index])
            # The request's own cap, not the window's use, may be what does not fit: say so.
            precise = reservation_refusal(
                rules, claims, verdict, estimates, request, plan, index >= own, headers
            )
            if precise is not None:
                raise precise
            whose = "this token's limit" if index >= own else "rate limit"
            raise RateLimited(
                f"{whose} exceeded: {rule.label}",
                headers=refusal_headers(refused, facts[index]),
                rule=rule.shown(),
            )
        return Admitted(verdict, facts, held)

    async def admit(self, exchange: Exchange) -> tuple[Hold, ...]:
        """Admit one more billed unit of an exchange already admitted (a realtime session's next
        response), as a request is: its reservations, or `RateLimited` / `UnpricedModel`."""
        gateway = exchange.gateway
        assert gateway is not None, "Resolve runs first"
        try:
            admitted = await self.decide(
                exchange.request, gateway, exchange.token, exchange.plan, exchange.options
            )
        except RateLimited:
            exchange.limits.rate_limited = True
            raise
        return admitted.verdict.holds if admitted is not None else ()

    async def settle(self, exchange: Exchange, outcome: Outcome) -> None:
        """The outcome sink: count what the request used in place of what it reserved."""
        holds, exchange.limits.holds = exchange.limits.holds, ()
        await self.settle_holds(holds, outcome, exchange.request.id)

    async def settle_holds(self, holds: Sequence[Hold], outcome: Outcome, request_id: str) -> None:
        """Count `outcome` in place of the reservations `holds` (no outcome: release them)."""
        if not holds:
            return
        # A bucket counts the request once: more holds in it (a route's limit nodes repeating one
        # gateway rule, and the rule's own top-up: see `taken_over`) are settled at nothing.
        counted: set[str] = set()
        used = []
        for hold in holds:
            key = hold.bucket.key
            used.append(0.0 if key in counted else _used(hold, outcome))
            counted.add(key)
        try:
            await self._limiter.settle(holds, used, self._clock())
        except LimiterUnavailable as exc:
            self.failures += 1
            _log.warning("could not settle reservations of request %s: %s", request_id, exc)

    def reserve_nothing(self, exchange: Exchange) -> tuple[Hold, ...]:
        """Holds of nothing in the token and cost buckets of `exchange`, whose usage came with no
        request admitted for it (a job the gateway read itself: pipeline/jobs.py; a realtime
        session's input audio transcription: realtime/relay.py), for `settle` to count that usage
        in: past a limit, and into a budget already full, since it has run."""
        now = self._clock()
        return tuple(unreserved(bucket, now) for _, bucket, _ in _metered(exchange))

    async def spent(self, exchange: Exchange) -> RateLimited | None:
        """The refusal of the first token or cost rule of `exchange` that is spent (used up to its
        limit), or None: what ends a realtime session whose usage runs unadmitted (transcriptions)."""
        metered = _metered(exchange)
        if not metered:
            return None
        try:
            usages = await self._limiter.usage([bucket for _, bucket, _ in metered], self._clock())
        except LimiterUnavailable as exc:
            self.failures += 1
            _log.warning("could not read the budgets of request %s: %s", exchange.request.id, exc)
            return None
        for (rule, _, token_rule), usage in zip(metered, usages, strict=True):
            if usage.used >= usage.bucket.limit:
                whose = "this token's limit" if token_rule else "rate limit"
                return RateLimited(f"{whose} exceeded: {rule.label}", rule=rule.shown())
        return None

    def claims_ahead(
        self,
        request: IncomingRequest,
        gateway: Gateway,
        token: Token | None,
        plan: RequestPlan,
        metadata: dict[str, Any],
    ) -> list[Claim]:
        """The claims of a request whose rules all count requests, known before the cache lookup
        so that one round trip can look up and decide (admit_ahead.py); none when no rule applies
        or one needs the request's estimate (tokens, cost)."""
        rules, own = gateway_and_token_rules(gateway, token)
        if not rules:
            return []
        ruled = rule_set(rules, own, request)
        if ruled.metered:
            return []
        buckets = request_buckets(rules, ruled, own, request, token, plan, metadata)
        taken = taken_over(own, buckets, plan)  # the route's hold counts the request for the rule
        return [Claim(bucket, 1) for i, bucket in enumerate(buckets) if i not in taken]

    async def _claims(
        self,
        rules: Sequence[RateLimitRule],
        ruled: RuleSet,
        buckets: Sequence[Bucket],
        taken: dict[int, dict[str, Hold]],
        request: IncomingRequest,
        gateway: Gateway,
        plan: RequestPlan,
        options: ClientOptions,
    ) -> tuple[list[int], list[Claim], list[StepEstimate]]:
        """The rules that claim (by index) and their claims, in `buckets`: 1 request each, or an
        estimate of the request's tokens or cost (priced as `Pricing.price` charges: the price
        table, else the gateway's fallback, else the client's custom cost); and the steps'
        estimates (none when no rule needs them). A rule `taken` over by the route's holds claims
        what they fall short of its reservation over all the plan's steps (the route reserved for
        its limit's `then` only), nothing when they cover it: its bucket is checked no more."""
        if not ruled.metered:
            claimed = [i for i in range(len(buckets)) if i not in taken]
            return claimed, [Claim(buckets[i], 1) for i in claimed], []
        cost_rule, settings = ruled.cost_rule, gateway.settings
        estimates = await self._estimator.estimate(
            plan.steps, request.method, cost_rule is not None, options.custom_cost, settings.fallback_price
        )
        if cost_rule is not None and not settings.allow_unpriced:
            _refuse_unpriced(plan.steps, estimates, cost_rule)  # a spend limit the route took over too
        claimed, claims = [], []
        for i, (rule, bucket) in enumerate(zip(rules, buckets, strict=True)):
            amount = reservation(rule, estimates)
            if i in taken:
                if rule.unit == "requests":
                    continue
                amount -= sum(hold.amount for hold in taken[i].values())
                if amount <= 0:
                    continue
            claimed.append(i)
            claims.append(Claim(bucket, amount))
        return claimed, claims, estimates


class Admitted(NamedTuple):
    """An admitted request's verdict (its `holds`, each bucket's figures) and the facts of the
    rules that claimed, in the same order, for the `x-ratelimit-*` headers; and its route's holds
    that stand for the claims of gateway rules (`taken`, by limit node: see `taken_over`)."""

    verdict: Verdict
    facts: Sequence[RuleFacts]
    taken: dict[str, Hold]


def reservation(rule: RateLimitRule, estimates: list[StepEstimate]) -> float:
    """What `rule` reserves for the request: 1 request, or the costliest step's estimate. An
    estimate above the whole limit reserves the limit, so such a request still runs alone."""
    if rule.unit == "requests":
        return 1
    if len(estimates) == 1:  # one step: the common case, without a generator
        only = estimates[0]
        amount: float = only.tokens(rule.reserve) if rule.unit == "tokens" else only.cost(rule.reserve)
    elif rule.unit == "tokens":
        amount = max((e.tokens(rule.reserve) for e in estimates), default=0)
    else:
        amount = max((e.cost(rule.reserve) for e in estimates), default=0.0)
    return min(amount, rule.limit)


def _refuse_unpriced(steps: Sequence[Step], estimates: list[StepEstimate], rule: RateLimitRule) -> None:
    """Spend can only be limited on a known price: refuse a request whose model has none."""
    for step, estimate in zip(steps, estimates, strict=True):
        if estimate.unpriced:
            raise UnpricedModel(
                f"model {step.facts.model!r} of provider {step.provider.name!r} has no known price, and "
                f"the spend limit {rule.label!r} applies: {PRICING_HELP}",
                model=step.facts.model,
                provider=step.provider.name,
                rule=rule.shown(),
            )


def _used(hold: Hold, outcome: Outcome) -> float:
    if hold.bucket.unit == "requests":
        return hold.amount  # a route's count of the request, taken over (`taken_over`): it stands
    if hold.bucket.unit == "tokens":
        return outcome.usage.total_tokens if outcome.usage is not None else 0
    return outcome.charge_usd  # as the provider stated it, else the operator's prices: never a custom cost


def _metered(exchange: Exchange) -> list[tuple[RateLimitRule, Bucket, bool]]:
    """The token and cost rules of `exchange`, each with its bucket and whether it is the token's."""
    gateway, token, request = exchange.gateway, exchange.token, exchange.request
    assert gateway is not None, "a resolved request"
    rules, own = gateway_and_token_rules(gateway, token)
    ruled = rule_set(rules, own, request)
    buckets = request_buckets(rules, ruled, own, request, token, exchange.plan, exchange.options.metadata)
    return [
        (rule, bucket, index >= own)
        for index, (rule, bucket) in enumerate(zip(rules, buckets, strict=True))
        if not bucket.counts_requests
    ]
