"""The route table, and nothing else."""

from __future__ import annotations

from aiohttp import web

from sluicegate.endpoints.admin import AdminApi
from sluicegate.endpoints.provider import ProviderEndpoint
from sluicegate.endpoints.system import health, not_found


def add_routes(app: web.Application, *, provider: ProviderEndpoint, admin: AdminApi) -> None:
    app.router.add_get("/healthz", health)
    app.router.add_route("*", "/v1/{account}/{gateway}/{provider}/{tail:.*}", provider.handle)
    app.add_subapp("/api/v1", admin.app())
    app.router.add_route("*", "/{tail:.*}", not_found)
