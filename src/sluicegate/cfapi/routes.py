"""The route table of `/client/v4`, each route behind the native guard with the native scope."""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web

from sluicegate.cfapi.custom_providers import CloudflareCustomProviders
from sluicegate.cfapi.dynamic_routes import CloudflareRoutes
from sluicegate.cfapi.envelope import PREFIX, cloudflare_errors
from sluicegate.cfapi.gateways import CloudflareGateways
from sluicegate.cfapi.logs import CloudflareLogs
from sluicegate.cfapi.providers import CloudflareProviders
from sluicegate.endpoints.access import AccessApi
from sluicegate.endpoints.admin import AdminApi
from sluicegate.endpoints.custom_providers import CustomProviderApi
from sluicegate.endpoints.guard import Guard
from sluicegate.endpoints.route_api import RouteApi
from sluicegate.storage.base import LogReader
from sluicegate.tokens import Scope

__all__ = ["PREFIX", "cloudflare_api"]


def cloudflare_api(
    admin: AdminApi,
    access: AccessApi,
    routes: RouteApi,
    custom: CustomProviderApi,
    guard: Guard,
    logs: LogReader,
    providers: Collection[str],
) -> web.Application:
    """The sub-application to mount at `PREFIX`. `{account}` and `{gateway}` are the names the
    guard reads, so a token is held to its account and gateways exactly as on `/api/v1`."""
    gateways, records = CloudflareGateways(admin), CloudflareLogs(admin, logs)
    keys = CloudflareProviders(admin, access, custom, providers)
    dynamic = CloudflareRoutes(admin, routes)
    accounts = CloudflareCustomProviders(custom)
    app = web.Application(middlewares=[cloudflare_errors])
    every = "/accounts/{account}/ai-gateway/gateways"
    one = every + "/{gateway}"
    log = one + "/logs/{log_id}"
    add = app.router.add_route
    add("GET", every, guard(Scope.READ, gateways.list, narrowed=True))
    add("POST", every, guard(Scope.ADMIN, gateways.create))
    add("GET", one, guard(Scope.READ, gateways.get))
    add("PUT", one, guard(Scope.ADMIN, gateways.update))
    add("DELETE", one, guard(Scope.ADMIN, gateways.delete))
    add("GET", one + "/logs", guard(Scope.READ, records.list))
    add("DELETE", one + "/logs", guard(Scope.ADMIN, records.delete))
    add("GET", log, guard(Scope.READ, records.get))
    add("PATCH", log, guard(Scope.FEEDBACK, records.edit))  # as natively: neither read nor admin needed
    add("GET", log + "/request", guard(Scope.READ, records.request_body))
    add("GET", log + "/response", guard(Scope.READ, records.response_body))
    # Stored keys need admin to list as well, as on /api/v1: their fingerprints are for key admins.
    add("GET", one + "/provider_configs", guard(Scope.ADMIN, keys.list_configs))
    add("POST", one + "/provider_configs", guard(Scope.ADMIN, keys.create_config))
    add("GET", one + "/url/{provider}", guard(Scope.READ, keys.url))
    route = one + "/routes/{route}"
    add("GET", one + "/routes", guard(Scope.READ, dynamic.list_routes))
    add("POST", one + "/routes", guard(Scope.ADMIN, dynamic.create))
    add("GET", route, guard(Scope.READ, dynamic.get))
    add("PATCH", route, guard(Scope.ADMIN, dynamic.rename))
    add("DELETE", route, guard(Scope.ADMIN, dynamic.delete))
    add("GET", route + "/versions", guard(Scope.READ, dynamic.list_versions))
    add("POST", route + "/versions", guard(Scope.ADMIN, dynamic.create_version))
    add("GET", route + "/versions/{version_id}", guard(Scope.READ, dynamic.get_version))
    add("GET", route + "/deployments", guard(Scope.READ, dynamic.list_deployments))
    add("POST", route + "/deployments", guard(Scope.ADMIN, dynamic.create_deployment))
    # Account-level, as natively: a token not limited to gateways.
    customs = "/accounts/{account}/ai-gateway/custom-providers"
    add("GET", customs, guard(Scope.READ, accounts.list))
    add("POST", customs, guard(Scope.ADMIN, accounts.create))
    add("GET", customs + "/{id}", guard(Scope.READ, accounts.get))
    add("PUT", customs + "/{id}", guard(Scope.ADMIN, accounts.update))
    add("PATCH", customs + "/{id}", guard(Scope.ADMIN, accounts.update))
    add("DELETE", customs + "/{id}", guard(Scope.ADMIN, accounts.delete))
    return app
