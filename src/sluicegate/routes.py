"""The route table, and nothing else."""

from __future__ import annotations

from aiohttp import web

from sluicegate.endpoints.admin import AdminApi
from sluicegate.endpoints.proxy import ProxyEndpoint
from sluicegate.endpoints.system import health, not_found


def add_routes(app: web.Application, *, proxy: ProxyEndpoint, admin: AdminApi) -> None:
    app.router.add_get("/healthz", health)
    app.router.add_route("*", "/v1/{account}/{gateway}/{provider}/{tail:.*}", proxy.provider)
    app.router.add_post("/v1/{account}/{gateway}", proxy.universal)
    app.router.add_post("/v1/{account}/{gateway}/", proxy.universal)
    app.add_subapp("/api/v1", admin.app())
    app.router.add_route("*", "/{tail:.*}", not_found)
