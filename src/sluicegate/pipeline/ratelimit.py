"""Rate and spend limits: the gateway's rules, checked before a request may go upstream.

Placed after the cache, so hits are never counted. Requests are counted on admission; tokens and
cost are charged by `charge_usage` once the response has completed and its usage is known.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import time
from collections.abc import Callable, Sequence

from sluicegate.errors import RateLimited, ServiceUnavailable
from sluicegate.exchange import Exchange, Reply
from sluicegate.gateway import RateLimitRule
from sluicegate.pipeline import Handler
from sluicegate.storage.base import LogRecord
from sluicegate.storage.limiter import Bucket, Limiter, LimiterUnavailable, Usage, Verdict

_log = logging.getLogger(__name__)


class RateLimit:
    def __init__(self, limiter: Limiter, fail_open: bool, clock: Callable[[], float] = time.time) -> None:
        self._limiter = limiter
        self._fail_open = fail_open
        self._clock = clock
        self.failures = 0  # checks that could not reach the limiter (exported as a metric)

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        gateway = exchange.gateway
        rules = gateway.settings.rate_limits if gateway is not None else []
        if not rules:
            return await call_next(exchange)
        buckets = [bucket_for(rule, index, exchange) for index, rule in enumerate(rules)]
        try:
            verdict = await self._limiter.admit(buckets, self._clock())
        except LimiterUnavailable as exc:
            self.failures += 1
            if not self._fail_open:
                _log.error("rate limiter unavailable, refusing (fail-closed): %s", exc)
                raise ServiceUnavailable("the rate limiter is unavailable; requests are refused") from exc
            _log.warning("rate limiter unavailable, admitting (fail-open): %s", exc)
            return await call_next(exchange)
        headers = _headers(verdict)
        if not verdict.allowed:
            exchange.rate_limited = True
            refused = verdict.refused_by
            assert refused is not None, "a refusal names its bucket"
            rule = rules[buckets.index(refused.bucket)]
            raise RateLimited(
                f"rate limit exceeded: {rule.label}",
                headers={**headers, "Retry-After": str(max(math.ceil(refused.reset_after), 1))},
                rule=rule.model_dump(),
            )
        exchange.charges = [bucket for bucket in buckets if not bucket.counts_requests]
        reply = await call_next(exchange)
        reply.headers.update(headers)
        return reply

    async def charge_usage(self, finished: Sequence[tuple[Exchange, LogRecord]]) -> None:
        """Charge token and cost buckets with what each finished request used (a logbook hook)."""
        now = self._clock()
        for exchange, record in finished:
            for bucket in exchange.charges:
                amount = _amount(bucket, record)
                if amount:
                    try:
                        await self._limiter.charge(bucket, amount, now)
                    except LimiterUnavailable as exc:
                        self.failures += 1
                        _log.warning("could not charge %s to a rate limit: %s", amount, exc)


def bucket_for(rule: RateLimitRule, index: int, exchange: Exchange) -> Bucket:
    """The bucket `rule` counts this request in: the rule (by content, so editing it starts afresh)
    and the request's value of the rule's scope."""
    scope = _scope_value(rule.scope, exchange)
    key = f"{exchange.account}/{exchange.gateway_slug}/{index}.{_fingerprint(rule)}:{scope}"
    return Bucket(key, rule.limit, rule.period, rule.technique == "sliding", rule.unit)


def _fingerprint(rule: RateLimitRule) -> str:
    """A short digest of a rule's content, so an edited rule counts afresh. Memoised by the field
    values: an `lru_cache` keyed by the model itself hashed and compared the model per request."""
    return _digest(tuple(rule.__dict__.items()))


@functools.lru_cache(maxsize=4096)
def _digest(fields: tuple[tuple[str, object], ...]) -> str:
    rule = RateLimitRule.model_validate(dict(fields))
    return hashlib.sha256(rule.model_dump_json().encode()).hexdigest()[:12]


def _scope_value(scope: str, exchange: Exchange) -> str:
    step = exchange.steps[0] if exchange.steps else None
    if scope == "gateway":
        return ""
    if scope == "provider":
        return step.provider.name if step else exchange.provider_name
    if scope == "model":
        return (step.facts.model if step else None) or ""
    if scope == "token":
        return exchange.token_id or "anonymous"
    field = scope.removeprefix("metadata.")
    return str(exchange.metadata.get(field, ""))  # requests without the field share one bucket


def _amount(bucket: Bucket, record: LogRecord) -> float:
    if bucket.unit == "tokens":
        return (record.tokens_in or 0) + (record.tokens_out or 0)
    return record.cost_usd or 0.0


def _headers(verdict: Verdict) -> dict[str, str]:
    """The tightest bucket's figures, as `x-ratelimit-*` headers."""
    usages = verdict.usages
    tightest: Usage = (
        usages[0] if len(usages) == 1 else min(usages, key=lambda u: u.remaining / u.bucket.limit)
    )
    return {
        "x-ratelimit-limit": f"{tightest.bucket.limit:g}",
        "x-ratelimit-remaining": f"{math.floor(tightest.remaining):d}",
        "x-ratelimit-reset": f"{math.ceil(tightest.reset_after):d}",
    }
