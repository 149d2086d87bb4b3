"""The route table, and nothing else."""

from __future__ import annotations

from collections.abc import Collection
from functools import partial

from aiohttp import web

from sluicegate import cfapi
from sluicegate.endpoints.access import AccessApi
from sluicegate.endpoints.admin import AdminApi
from sluicegate.endpoints.analytics import add_analytics_routes
from sluicegate.endpoints.custom_providers import CustomProviderApi
from sluicegate.endpoints.dashboard import add_dashboard_routes
from sluicegate.endpoints.export import LogExport
from sluicegate.endpoints.guard import Guard
from sluicegate.endpoints.json_errors import json_errors
from sluicegate.endpoints.proxy import ProxyEndpoint
from sluicegate.endpoints.route_api import RouteApi
from sluicegate.endpoints.semantic_report import Thresholds, add_semantic_report_route
from sluicegate.endpoints.spend import add_spend_routes
from sluicegate.endpoints.status import StatusEndpoint
from sluicegate.endpoints.system import HealthEndpoint, MetricsEndpoint, front_page
from sluicegate.endpoints.urls import GatewayUrls
from sluicegate.storage.base import Database
from sluicegate.storage.limiter import Limiter


def add_routes(
    app: web.Application,
    *,
    proxy: ProxyEndpoint,
    admin: AdminApi,
    route_api: RouteApi,
    export: LogExport,
    access: AccessApi,
    custom: CustomProviderApi,
    urls: GatewayUrls,
    metrics: MetricsEndpoint,
    health: HealthEndpoint,
    status: StatusEndpoint,
    database: Database,
    limiter: Limiter,
    guard: Guard,
    providers: Collection[str],
    semantic_thresholds: Thresholds,
) -> None:
    app.router.add_get("/", front_page)
    app.router.add_get("/healthz", health.handle)
    app.router.add_get("/metrics", partial(json_errors, handler=metrics.handle))
    # The proxy's routes send `100 Continue` only once the body is wanted (ProxyEndpoint.expect).
    proxied = partial(app.router.add_route, "*", expect_handler=proxy.expect)
    proxied("/v1/{account}/{gateway}/{provider}/{tail:.*}", proxy.provider)
    proxied("/v1/{account}/{gateway}/{provider}", proxy.provider_root)  # a WebSocket, else as before
    proxied("/v1/{account}/{gateway}", proxy.universal)  # POST, else a 405
    proxied("/v1/{account}/{gateway}/", proxy.universal)
    api = web.Application(middlewares=[json_errors])
    export.add_routes(api)  # first: `…/logs/export` would otherwise match `…/logs/{log_id}`
    admin.add_routes(api)
    route_api.add_routes(api)
    access.add_routes(api)
    custom.add_routes(api)
    urls.add_routes(api)
    status.add_routes(api)
    add_analytics_routes(api, database, guard)
    add_semantic_report_route(api, database, guard, semantic_thresholds)
    add_spend_routes(api, database, limiter, guard)
    app.add_subapp("/api/v1", api)
    app.add_subapp(
        cfapi.PREFIX, cfapi.cloudflare_api(admin, access, route_api, custom, guard, database, providers)
    )
    add_dashboard_routes(app)
    # Fastly AI Accelerator's purge-all, at the path its clients use.
    app.router.add_post("/ai_accelerator/expire", partial(json_errors, handler=admin.expire_all_guarded))
    proxied("/{tail:.*}", proxy.hosted)  # host-in-path, else a JSON 404
