"""RateLimit, called directly: a rule that still has room adds its figures to the answer; one that
is full raises RateLimited before the request goes on."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from sluicegate.errors import RateLimited, ServiceUnavailable
from sluicegate.exchange import ClientOptions, Exchange, RequestPlan
from sluicegate.gateway import GatewaySettings, RateLimitRule
from sluicegate.outcome.estimate import Estimator
from sluicegate.outcome.pricing import Pricing
from sluicegate.pipeline.ratelimit import RateLimit
from sluicegate.storage.limiter import Claim, LimiterUnavailable, MemoryLimiter, Verdict
from sluicegate.tokens import Scope, Token
from sluicegate.usage.cost import PriceTable
from sluicegate.usage.tokens import TokenCounter
from tests.pipeline.stage_parts import Downstream, make_exchange, make_gateway

NOW = 1_800_000_000.0


def rate_limit(limiter: MemoryLimiter | None = None, fail_open: bool = True) -> RateLimit:
    estimator = Estimator(TokenCounter(), Pricing(PriceTable()))
    return RateLimit(limiter or MemoryLimiter(), estimator, fail_open=fail_open, clock=lambda: NOW)


def limited(*rules: RateLimitRule) -> GatewaySettings:
    return GatewaySettings(rate_limits=list(rules))


async def test_without_rules_the_answer_is_left_alone() -> None:
    downstream = Downstream()
    reply = await rate_limit()(make_exchange(gateway=make_gateway()), downstream)
    assert len(downstream.seen) == 1
    assert not any(name.startswith("x-ratelimit") for name in reply.headers)


async def test_a_rule_with_room_adds_its_figures_and_a_full_one_refuses() -> None:
    gateway = make_gateway(limited(RateLimitRule(name="two a minute", limit=2, period=60)))
    stage, downstream = rate_limit(), Downstream()
    first = await stage(make_exchange(gateway=gateway), downstream)
    assert (first.headers["x-ratelimit-limit"], first.headers["x-ratelimit-remaining"]) == ("2", "1")
    assert first.headers["x-ratelimit-rule"] == "two a minute"
    second = await stage(make_exchange(gateway=gateway), downstream)
    assert second.headers["x-ratelimit-remaining"] == "0"
    refused = make_exchange(gateway=gateway)
    with pytest.raises(RateLimited, match="rate limit exceeded: two a minute") as caught:
        await stage(refused, downstream)
    assert len(downstream.seen) == 2  # the third never went on
    assert refused.limits.rate_limited
    assert 1 <= int(caught.value.headers["Retry-After"]) <= 60
    assert caught.value.headers["x-ratelimit-remaining"] == "0"


async def test_a_metadata_scoped_rule_counts_each_value_apart() -> None:
    gateway = make_gateway(limited(RateLimitRule(limit=1, period=60, scope="metadata.user")))
    stage = rate_limit()

    def as_user(user: str) -> Exchange:
        exchange = make_exchange(gateway=gateway)
        exchange.options.metadata = {"user": user}
        return exchange

    await stage(as_user("ann"), Downstream())
    await stage(as_user("bob"), Downstream())
    with pytest.raises(RateLimited):
        await stage(as_user("ann"), Downstream())


async def test_a_token_s_own_rule_is_named_as_the_token_s() -> None:
    token = Token.model_validate(
        {
            "id": "t1",
            "account": "local",
            "name": "team",
            "scopes": (Scope.RUN,),
            "created_at": 0,
            "hint": "sg_abcd",
            "rules": [{"limit": 1, "period": 60}],
        }
    )
    stage = rate_limit()
    for expected in ("ok", "refused"):
        exchange = make_exchange(gateway=make_gateway())
        exchange.token = token
        if expected == "ok":
            await stage(exchange, Downstream())
        else:
            with pytest.raises(RateLimited, match="this token's limit exceeded"):
                await stage(exchange, Downstream())


class DownLimiter(MemoryLimiter):
    async def admit(self, claims: Sequence[Claim], now: float) -> Verdict:
        raise LimiterUnavailable("connection refused")


async def test_an_unreachable_limiter_admits_or_refuses_by_policy() -> None:
    gateway = make_gateway(limited(RateLimitRule(limit=1, period=60)))
    downstream = Downstream()
    open_stage = rate_limit(DownLimiter(), fail_open=True)
    await open_stage(make_exchange(gateway=gateway), downstream)
    assert len(downstream.seen) == 1
    assert open_stage.failures == 1
    closed_stage = rate_limit(DownLimiter(), fail_open=False)
    with pytest.raises(ServiceUnavailable, match="rate limiter is unavailable"):
        await closed_stage(make_exchange(gateway=gateway), downstream)
    assert len(downstream.seen) == 1


async def test_decide_reads_only_the_request_gateway_token_plan_and_options() -> None:
    """The decision, without an Exchange: a metadata-scoped rule counts each user apart."""
    gateway = make_gateway(limited(RateLimitRule(limit=1, period=60, scope="metadata.user")))
    request = make_exchange().request
    stage = rate_limit()
    first = await stage.decide(request, gateway, None, RequestPlan(), ClientOptions(metadata={"user": "ann"}))
    assert first is not None
    assert [hold.bucket.limit for hold in first.verdict.holds] == []  # requests rules hold nothing
    assert first.verdict.usages[0].remaining == 0
    assert await stage.decide(request, gateway, None, RequestPlan(), ClientOptions(metadata={"user": "bob"}))
    with pytest.raises(RateLimited):
        await stage.decide(request, gateway, None, RequestPlan(), ClientOptions(metadata={"user": "ann"}))


def test_the_claims_ahead_read_only_the_request_gateway_token_plan_and_metadata() -> None:
    """What the cache's one-trip lookup claims, without an Exchange: one request per rule, each
    user in a bucket of its own; none when a rule needs the request's estimate."""
    requests = RateLimitRule(limit=5, period=60, scope="metadata.user")
    request, stage = make_exchange().request, rate_limit()
    ann = stage.claims_ahead(request, make_gateway(limited(requests)), None, RequestPlan(), {"user": "ann"})
    bob = stage.claims_ahead(request, make_gateway(limited(requests)), None, RequestPlan(), {"user": "bob"})
    assert [claim.amount for claim in ann] == [1]
    assert ann[0].bucket.key != bob[0].bucket.key
    tokens = make_gateway(limited(requests, RateLimitRule(limit=1000, period=60, unit="tokens")))
    assert stage.claims_ahead(request, tokens, None, RequestPlan(), {"user": "ann"}) == []
    assert stage.claims_ahead(request, make_gateway(), None, RequestPlan(), {}) == []
