"""`GET /api/v1/accounts/{account}/spend`: the top spenders per token, user, team or model, their
trend, and the budget each has left.

Parameters: `by` (`token`, `user`, `team` or `model`; default `token`), `since` and `until` (epoch
seconds, ISO 8601, or — for `since` — a span back from `until` such as `7d`, `24h`, `30m`; default
the 30 days before now), `gateway`, `key` (one spender, for its trend), `limit` (top spenders,
1-1000, default 50), `interval` (`hour` or `day` for the trend; default chosen from the range).
Any other parameter is a 400 naming it and the one probably meant.

Spend comes from the logs (`spend.py`). Budgets come from the rate-limit counters: each rule of
the counted gateways scoped like `by` (`token`, `metadata.user`, `metadata.team`, `model`) for
each spender listed (the row of requests without one: the bucket those share), rules with scope
`gateway` once, and, by token, each token's own rules. Like analytics it needs the `read` scope and
a token limited to some gateways counts only those; token names and tokens' own rules are account
data, shown to a caller not limited to gateways only.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Protocol, get_args

import orjson
from aiohttp import web

from sluicegate.buckets import absent_scope_value, gateway_bucket, token_bucket
from sluicegate.endpoints.analytics import check_span, finite_time
from sluicegate.endpoints.guard import TOKEN, Guard
from sluicegate.endpoints.log_params import parse_time
from sluicegate.endpoints.query_params import check_params
from sluicegate.endpoints.reach import check_gateway, gateways_to_cover
from sluicegate.errors import BadRequest
from sluicegate.gateway import RateLimitRule, plain
from sluicegate.hints import did_you_mean
from sluicegate.spend import BudgetUse, Dimension, SpendInterval, SpendQuery, SpendResult, SpendSource
from sluicegate.storage.base import GatewayRecords
from sluicegate.storage.limiter import Bucket, Limiter, LimiterUnavailable, Usage
from sluicegate.tokens import Scope, Token, TokenStore

DEFAULT_SPAN = 30 * 86400.0
MAX_LIMIT = 1000
_SPAN = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_SPAN_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
PARAMS = ("by", "since", "until", "gateway", "key", "limit", "interval")
# The analytics API's names for the range's ends, and other names for a spender.
_MEANT = {"from": "since", "to": "until", "group_by": "by", "dimension": "by", "spender": "key"}
# Which gateway rules count per spender of each dimension.
_SCOPES: dict[Dimension, str] = {
    "token": "token",
    "user": "metadata.user",
    "team": "metadata.team",
    "model": "model",
}


class SpendBackend(GatewayRecords, TokenStore, SpendSource, Protocol):
    """The sums, the gateways they are of, and the tokens that spent them."""


def add_spend_routes(
    app: web.Application,
    database: SpendBackend,
    limiter: Limiter,
    guard: Guard,
    clock: Callable[[], float] = time.time,
) -> None:
    async def spend(request: web.Request) -> web.Response:
        caller = request[TOKEN]
        now = clock()
        query = spend_query(request.match_info["account"], request.query, caller, now)
        if asked := request.query.get("gateway"):
            await check_gateway(database, query.account, asked)
        result = await database.spend(query)
        await _add_budgets(result, database, limiter, caller, now)
        body = orjson.dumps(result.model_dump(mode="json", by_alias=True))
        return web.Response(body=body, content_type="application/json")

    app.router.add_get("/accounts/{account}/spend", guard(Scope.READ, spend, narrowed=True))


def spend_query(account: str, params: Mapping[str, str], token: Token, now: float) -> SpendQuery:
    """A `SpendQuery` from URL parameters; a 400 names the bad one and what was probably meant."""
    check_params(params, PARAMS, meant=_MEANT)
    by = params.get("by") or "token"
    dimensions = get_args(Dimension)
    if by not in dimensions:
        raise BadRequest(
            f"by must be one of {', '.join(dimensions)}, got {by!r}{did_you_mean(by, dimensions)}", param="by"
        )
    until = finite_time(parse_time(params.get("until"), "until"), "until")
    until = now if until is None else until
    since = _since(params.get("since"), until)
    if since > until:
        raise BadRequest("since must not be after until", param="since")
    interval = params.get("interval") or ("hour" if until - since <= 2 * 86400 else "day")
    if interval not in get_args(SpendInterval):
        raise BadRequest(
            f"interval must be one of {', '.join(get_args(SpendInterval))}, got {interval!r}",
            param="interval",
        )
    check_span(
        since,
        until,
        interval,
        get_args(SpendInterval),
        asked=bool(params.get("interval")),
        ends=("since", "until"),
    )
    return SpendQuery(
        account=account,
        by=by,
        since=since,
        until=until,
        interval=interval,
        gateways=gateways_to_cover(params.get("gateway"), token),
        key=params.get("key") or None,
        limit=_limit(params.get("limit")),
    )


def _since(value: str | None, until: float) -> float:
    if value is None or not value.strip():
        return until - DEFAULT_SPAN
    span = _SPAN.match(value.strip())
    if span:
        return until - float(span[1]) * _SPAN_SECONDS[span[2]]
    try:
        moment = parse_time(value, "since")
    except BadRequest:
        raise BadRequest(
            f"since must be epoch seconds, an ISO 8601 time or a span back from until such as 7d, 24h"
            f" or 30m, got {value!r}",
            param="since",
        ) from None
    result = finite_time(moment, "since")
    assert result is not None
    return result


def _limit(value: str | None) -> int:
    if value is None:
        return 50
    try:
        limit = int(value)
    except ValueError:
        raise BadRequest(
            f"limit must be an integer from 1 to {MAX_LIMIT}, got {value!r}", param="limit"
        ) from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be from 1 to {MAX_LIMIT}, got {limit}", param="limit")
    return limit


async def _add_budgets(
    result: SpendResult, database: SpendBackend, limiter: Limiter, caller: Token, now: float
) -> None:
    """Each listed spender's remaining budget per rule, and the gateway-wide rules', in one read."""
    wanted: list[tuple[list[BudgetUse], str | None, RateLimitRule, Bucket]] = []
    account, scope = result.account, _SCOPES[result.by]
    counted = result.gateways
    for gateway in await database.list_gateways(account):
        if counted is not None and gateway.slug not in counted:
            continue
        for index, rule in enumerate(gateway.settings.rate_limits):
            if rule.scope == "gateway":
                wanted.append(
                    (
                        result.budgets,
                        gateway.slug,
                        rule,
                        gateway_bucket(account, gateway.slug, index, rule, ""),
                    )
                )
            elif rule.scope == scope:
                for spender in result.result:
                    # Requests without a value (no user, no token) share a bucket of their own.
                    value = absent_scope_value(scope) if spender.key is None else spender.key
                    bucket = gateway_bucket(account, gateway.slug, index, rule, value)
                    wanted.append((spender.budgets, gateway.slug, rule, bucket))
    if result.by == "token" and caller.gateways is None:
        tokens = {token.id: token for token in await database.list_tokens(account)}
        for spender in result.result:
            token = tokens.get(spender.key or "")
            if token is None:
                continue
            spender.name = token.name
            for index, rule in enumerate(token.rules):
                wanted.append((spender.budgets, None, rule, token_bucket(account, token.id, index, rule)))
    if not wanted:
        return
    try:
        usages = await limiter.usage([bucket for *_, bucket in wanted], now)
    except LimiterUnavailable as exc:
        result.budget_error = f"the rate-limit counters are unavailable: {exc}"
        return
    for (target, slug, rule, _), usage in zip(wanted, usages, strict=True):
        target.append(_budget_use(slug, rule, usage))


def _budget_use(gateway: str | None, rule: RateLimitRule, usage: Usage) -> BudgetUse:
    return BudgetUse(
        gateway=gateway,
        rule=rule.shown(),
        label=rule.label,
        unit=rule.unit,
        limit=rule.limit,
        used=float(plain(usage.used)),  # no float residue such as 2.9999999999999996e-05
        remaining=float(plain(usage.remaining)),
        reset_after=usage.reset_after,
    )
