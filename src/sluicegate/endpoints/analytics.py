"""`GET /api/v1/accounts/{account}/analytics`: totals and a time series, for the dashboard and for scripts.

Parameters (all optional): `from`, `to` (epoch seconds or ISO 8601; default the 24 hours before
now), `interval` (`minute`, `hour` or `day`; default chosen from the range), `gateway`,
`provider`, `model`, and `by` (`route` or `target`: the figures of each dynamic route, or of each
target that answered one, in `groups`). A token limited to some gateways sees only those; a
`gateway` that does not exist and left no records is a 404 naming the likeliest one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Protocol, get_args

import orjson
from aiohttp import web

from sluicegate.analytics import (
    DEFAULT_RANGE,
    INTERVAL_SECONDS,
    MAX_POINTS,
    AnalyticsQuery,
    AnalyticsSource,
    GroupBy,
    Interval,
    choose_interval,
)
from sluicegate.endpoints.guard import TOKEN, Guard
from sluicegate.endpoints.log_params import parse_time
from sluicegate.endpoints.reach import check_gateway, gateways_to_cover
from sluicegate.errors import BadRequest
from sluicegate.storage.base import GatewayRecords
from sluicegate.storage.rollup_bins import KEPT_SECONDS, WIDTHS, finest_width
from sluicegate.tokens import Scope, Token


class AnalyticsBackend(GatewayRecords, AnalyticsSource, Protocol):
    """The figures, and the gateways they are of."""


def add_analytics_routes(
    app: web.Application, database: AnalyticsBackend, guard: Guard, *, clock: Callable[[], float] = time.time
) -> None:
    """Add the analytics route to the admin API's sub-app (it needs the `read` scope; a token
    limited to some gateways counts only those)."""

    async def analytics(request: web.Request) -> web.Response:
        query = analytics_query(request.match_info["account"], request.query, request[TOKEN], clock())
        if asked := request.query.get("gateway"):
            await check_gateway(database, query.account, asked)
        result = await database.analytics(query)
        body = orjson.dumps(result.model_dump(mode="json", by_alias=True))
        return web.Response(body=body, content_type="application/json")

    app.router.add_get("/accounts/{account}/analytics", guard(Scope.READ, analytics, narrowed=True))


def analytics_query(account: str, params: Any, token: Token, now: float) -> AnalyticsQuery:
    """An `AnalyticsQuery` from URL parameters; a 400 names the bad one."""
    until = finite_time(parse_time(params.get("to"), "to"), "to")
    until = now if until is None else until
    since = finite_time(parse_time(params.get("from"), "from"), "from")
    since = until - DEFAULT_RANGE if since is None else since
    if since > until:
        raise BadRequest("from must not be after to", param="from")
    # Unasked, no finer than the rows kept at `from` (`kept_range`): an old range is not a 400.
    interval = params.get("interval") or max(
        choose_interval(since, until), finest_interval(since, now), key=INTERVAL_SECONDS.__getitem__
    )
    if interval not in get_args(Interval):
        raise BadRequest(
            f"interval must be one of {', '.join(get_args(Interval))}, got {interval!r}", param="interval"
        )
    by = params.get("by") or None
    if by is not None and by not in get_args(GroupBy):
        raise BadRequest(
            f"by must be one of {', '.join(get_args(GroupBy))} (dynamic routes: by route name, or by the"
            f" target that answered), got {by!r}",
            param="by",
        )
    query = AnalyticsQuery(
        account=account,
        since=since,
        until=until,
        interval=interval,
        gateways=gateways_to_cover(params.get("gateway"), token),
        provider=params.get("provider") or None,
        model=params.get("model") or None,
        by=by,
    )
    if query.points() > MAX_POINTS:
        raise BadRequest(
            f"{query.points()} {interval}s between from and to: at most {MAX_POINTS} points;"
            " choose a wider interval or a shorter range",
            param="interval",
        )
    return kept_range(query, now)


def finest_interval(since: float, now: float) -> Interval:
    width = finest_width(since, now)
    return next(name for name, seconds in INTERVAL_SECONDS.items() if seconds == width)


def kept_range(query: AnalyticsQuery, now: float) -> AnalyticsQuery:
    """The query, its ends widened to the roll-up rows still kept there: minute rows are kept
    `KEPT_SECONDS[60]`, hour rows `KEPT_SECONDS[3600]` (retention prunes older ones), so an older
    `from` begins at its hour or day, and the answer's `from` and `to` say so. An interval finer than
    the rows kept at `from` is a 400: its buckets would be zeros, not the traffic."""
    finest = finest_width(query.since, now)
    if query.step < finest:
        kept_days = KEPT_SECONDS[query.step] / 86400
        wider = finest_interval(query.since, now)
        raise BadRequest(
            f"{query.interval} buckets are kept for {kept_days:g} days (older traffic is counted by the"
            f" {wider});"
            f" from is {(now - query.since) / 86400:.1f} days ago: ask interval={wider} or a later from",
            param="interval",
        )
    if finest == WIDTHS[-1]:  # minute rows kept at `from`, so at `to` too
        return query
    last = finest_width(query.until, now)
    since = math.floor(query.since / finest) * finest
    until = math.ceil(query.until / last) * last if last > WIDTHS[-1] else query.until
    return query.model_copy(update={"since": since, "until": until})


LATEST = 1e11  # epoch seconds in the year 5138: beyond any log, well inside every backend's integers


def finite_time(value: float | None, name: str) -> float | None:
    if value is not None and not (math.isfinite(value) and -LATEST < value < LATEST):
        raise BadRequest(f"{name} must be a time between 1970 and the year 5000, got {value!r}", param=name)
    return value
