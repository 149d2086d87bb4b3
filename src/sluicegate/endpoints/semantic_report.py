"""`GET /api/v1/accounts/{account}/analytics/semantic`: the semantic cache's threshold what-if and
shadow precision (`semantic_report`), for the dashboard's Accelerator view and for scripts.

Parameters (all optional): `from`, `to` (epoch seconds or ISO 8601; default the 24 hours before
now) and `gateway`; any other is a 400 naming it. A token limited to some gateways sees only those.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import orjson
from aiohttp import web

from sluicegate.analytics import DEFAULT_RANGE
from sluicegate.endpoints.analytics import finite_time
from sluicegate.endpoints.guard import TOKEN, Guard
from sluicegate.endpoints.log_params import parse_time
from sluicegate.endpoints.query_params import FROM_TO, check_params
from sluicegate.endpoints.reach import check_gateway, gateways_to_cover
from sluicegate.errors import BadRequest
from sluicegate.gateway import Gateway
from sluicegate.semantic_report import GatewayThreshold, SemanticBins, build_report
from sluicegate.storage.base import GatewayRecords
from sluicegate.tokens import Scope

PARAMS = ("from", "to", "gateway")
# A gateway's thresholds on this replica (configured, and adapted under semantic_max_error).
Thresholds = Callable[[Gateway], GatewayThreshold]


class SemanticReportSource(GatewayRecords, SemanticBins, Protocol):
    """The bins, and the gateways they are of."""


def add_semantic_report_route(
    app: web.Application,
    database: SemanticReportSource,
    guard: Guard,
    thresholds: Thresholds,
    *,
    clock: Callable[[], float] = time.time,
) -> None:
    async def report(request: web.Request) -> web.Response:
        account, params = request.match_info["account"], request.query
        since, until = _range(params, clock())
        gateways = gateways_to_cover(params.get("gateway"), request[TOKEN])
        if asked := params.get("gateway"):
            await check_gateway(database, account, asked)
        bins = await database.semantic_bins(account, since, until, gateways)
        result = build_report(account, since, until, list(gateways) if gateways is not None else None, bins)
        for gateway in await database.list_gateways(account):
            if gateway.settings.semantic_cache_enabled and (gateways is None or gateway.slug in gateways):
                result.effective[gateway.slug] = thresholds(gateway)
        body = orjson.dumps(result.model_dump(mode="json", by_alias=True))
        return web.Response(body=body, content_type="application/json")

    app.router.add_get("/accounts/{account}/analytics/semantic", guard(Scope.READ, report, narrowed=True))


def _range(params: Any, now: float) -> tuple[float, float]:
    check_params(params, PARAMS, meant=FROM_TO)
    until = finite_time(parse_time(params.get("to"), "to"), "to")
    until = now if until is None else until
    since = finite_time(parse_time(params.get("from"), "from"), "from")
    since = until - DEFAULT_RANGE if since is None else since
    if since > until:
        raise BadRequest("from must not be after to", param="from")
    return since, until
