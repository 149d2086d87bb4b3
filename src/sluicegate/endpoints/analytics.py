"""`GET /api/v1/accounts/{account}/analytics`: totals and a time series, for the dashboard and for scripts.

Parameters (all optional): `from`, `to` (epoch seconds or ISO 8601; default the 24 hours before
now), `interval` (`minute`, `hour` or `day`; default chosen from the range), `gateway`,
`provider` (in any case), `model`, and `by` (`route` or `target`: the figures of each dynamic
route, or of each target that answered one, in `groups`). Any other parameter is a 400 naming it
and the nearest. A token limited to some gateways sees only those; a `gateway` that does not exist
and left no records is a 404 naming the likeliest one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
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
from sluicegate.endpoints.query_params import FROM_TO, check_params, provider_name
from sluicegate.endpoints.reach import check_gateway, gateways_to_cover
from sluicegate.errors import BadRequest
from sluicegate.storage.base import GatewayRecords
from sluicegate.storage.rollup_bins import KEPT_SECONDS, WIDTHS, finest_width
from sluicegate.times import query_time
from sluicegate.tokens import Scope, Token

PARAMS = ("from", "to", "interval", "gateway", "provider", "model", "by")
_SECONDS: dict[str, int] = dict(INTERVAL_SECONDS.items())  # by any name: the spend API's intervals too


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
    check_params(params, PARAMS, meant=FROM_TO)
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
    check_span(since, until, interval, get_args(Interval), asked=bool(params.get("interval")))
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
        provider=provider_name(params.get("provider") or None),
        model=params.get("model") or None,
        by=by,
    )
    return kept_range(query, now)


def check_span(
    since: float,
    until: float,
    interval: str,
    intervals: Sequence[str],
    *,
    asked: bool,
    ends: tuple[str, str] = ("from", "to"),
) -> None:
    """A 400 for a range longer than `MAX_POINTS` intervals: a series by hour spans up to 720 hours
    (30 days). The bound is on the span, in whole intervals, so a range of exactly 720 hours passes
    (and one a client computed as 30 days before its own clock passes the moment later it arrives),
    and its series has a point for every bucket it touches, the cut first and last too. The
    400 names `interval` when an interval was asked and a wider one of `intervals` would do, else
    the range's start (the widest is already in use), with the longest range allowed."""
    step = _SECONDS[interval]
    if (until - since) // step <= MAX_POINTS:
        return
    start, end = ends
    apart = f"{start} is {_in(until - since, interval)} before {end}"
    longest = _in(MAX_POINTS * step, interval)
    wider = [name for name in intervals if _SECONDS[name] > step]
    fits = next((name for name in wider if (until - since) // _SECONDS[name] <= MAX_POINTS), None)
    if asked and fits is not None:
        raise BadRequest(
            f"{apart}: a series by {interval} spans at most {longest}; ask interval={fits}, or a {start}"
            f" at most {longest} before {end}",
            param="interval",
        )
    widest = max(intervals, key=_SECONDS.__getitem__)
    widest_longest = _in(MAX_POINTS * _SECONDS[widest], widest)
    if widest == interval:
        limits = f"a series by {interval} (the widest interval) spans at most {longest}"
    else:
        limits = f"a series by {interval} spans at most {longest}, by {widest} (the widest) {widest_longest}"
    raise BadRequest(f"{apart}: {limits}; ask a {start} at most {widest_longest} before {end}", param=start)


def _in(seconds: float, interval: str) -> str:
    """`721 hours (30 days)`: a span in `interval`s, and in the largest unit it holds twice."""
    shown = _count(seconds, interval)
    unit = next((unit for unit in ("day", "hour") if seconds >= 2 * _SECONDS[unit]), "minute")
    return shown if unit == interval else f"{shown} ({_count(seconds, unit)})"


def _count(seconds: float, unit: str) -> str:
    count = seconds / _SECONDS[unit]
    return f"{count:.0f} {unit}s" if count >= 10 or count.is_integer() else f"{count:.1f} {unit}s"


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


def finite_time(value: float | None, name: str) -> float | None:
    """`value` (None: not given) within the times a query may name (`times.query_time`)."""
    return None if value is None else query_time(value, name)
