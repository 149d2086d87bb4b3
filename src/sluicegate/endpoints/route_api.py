"""A gateway's dynamic routes one at a time, and their versions.

    GET    /accounts/{account}/gateways/{gateway}/routes     every route
    GET    …/routes/{name}                                   one route and its version
    PUT    …/routes/{name}                                   set it (a node; a 400 names a bad path)
    DELETE …/routes/{name}
    GET    …/routes/{name}/versions                          every version, newest first
    POST   …/routes/{name}/versions/{version}/restore        that version, saved as the next one
    POST   …/routes/{name}/validate                          check a node without saving it (the editor)

Every write goes through `AdminApi.change`, which numbers the versions and writes the audit trail.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from sluicegate.endpoints.admin import AdminApi
from sluicegate.endpoints.body import read_body
from sluicegate.endpoints.guard import Guard
from sluicegate.errors import BadRequest, NotFound
from sluicegate.gateway import Gateway
from sluicegate.hints import did_you_mean
from sluicegate.routing import parse_route
from sluicegate.storage.base import RouteHistory
from sluicegate.tokens import Scope


class RouteApi:
    def __init__(self, admin: AdminApi, history: RouteHistory, guard: Guard) -> None:
        self._admin = admin
        self._history = history
        self._guard = guard

    def add_routes(self, app: web.Application) -> None:
        guard, routes = self._guard, "/accounts/{account}/gateways/{gateway}/routes"
        one = routes + "/{name}"
        app.router.add_get(routes, guard(Scope.READ, self.list_routes))
        app.router.add_get(one, guard(Scope.READ, self.get_route))
        app.router.add_put(one, guard(Scope.ADMIN, self.put_route))
        app.router.add_delete(one, guard(Scope.ADMIN, self.delete_route))
        app.router.add_get(one + "/versions", guard(Scope.READ, self.list_versions))
        app.router.add_post(one + "/versions/{version}/restore", guard(Scope.ADMIN, self.restore))
        app.router.add_post(one + "/validate", guard(Scope.READ, self.validate))

    async def list_routes(self, request: web.Request) -> web.Response:
        gateway = await self._gateway(request)
        return _json({"result": [_route(gateway, name) for name in sorted(gateway.settings.routes)]})

    async def get_route(self, request: web.Request) -> web.Response:
        gateway = await self._gateway(request)
        return _json(_route(gateway, _known(gateway, request.match_info["name"])))

    async def put_route(self, request: web.Request) -> web.Response:
        return _json(await self._set(request, request.match_info["name"], await _node(request)))

    async def validate(self, request: web.Request) -> web.Response:
        """`{"valid": true}`, or the 400 saving it would get, naming the bad path inside the route."""
        await self._gateway(request)
        name, node = request.match_info["name"], await _node(request)
        parse_route(name, node)
        return _json({"valid": True, "name": name})

    async def delete_route(self, request: web.Request) -> web.Response:
        gateway = await self._gateway(request)
        name = _known(gateway, request.match_info["name"])
        routes = {k: v for k, v in gateway.settings.routes.items() if k != name}
        await self._admin.change(request, gateway.account, gateway.slug, None, {"routes": routes})
        return web.Response(status=204)

    async def list_versions(self, request: web.Request) -> web.Response:
        gateway = await self._gateway(request)
        name = request.match_info["name"]
        versions = await self._history.route_versions(gateway.account, gateway.slug, name)
        if not versions:
            raise NotFound(
                f"gateway {gateway.slug!r} has never had a route {name!r}",
                routes=sorted(gateway.settings.routes),
            )
        current = gateway.settings.route_versions.get(name)
        return _json({
            "result": [
                {"version": v.version, "route": v.route, "removed": v.route is None, "ts": v.ts,
                 "actor": v.actor, "current": v.version == current}
                for v in versions
            ]
        })  # fmt: skip

    async def restore(self, request: web.Request) -> web.Response:
        """The stored version, saved again as the route's newest version (history is never rewritten)."""
        gateway = await self._gateway(request)
        name, asked = request.match_info["name"], request.match_info["version"]
        versions = {
            v.version: v for v in await self._history.route_versions(gateway.account, gateway.slug, name)
        }
        found = versions.get(int(asked)) if asked.isdigit() else None
        if found is None:
            raise NotFound(f"route {name!r} has no version {asked!r}", versions=sorted(versions))
        if found.route is None:
            raise BadRequest(
                f"version {found.version} of route {name!r} is its removal; restore an earlier one"
            )
        return _json(await self._set(request, name, found.route))

    async def _set(self, request: web.Request, name: str, node: Any) -> dict[str, Any]:
        gateway = await self._gateway(request)
        routes = {**gateway.settings.routes, name: node}
        updated = await self._admin.change(request, gateway.account, gateway.slug, None, {"routes": routes})
        return _route(updated, name)

    async def _gateway(self, request: web.Request) -> Gateway:
        return await self._admin.gateway(request.match_info["account"], request.match_info["gateway"])


async def _node(request: web.Request) -> Any:
    try:
        return orjson.loads(await read_body(request))
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body must be a route node as JSON: {exc}") from exc


def _known(gateway: Gateway, name: str) -> str:
    if name not in gateway.settings.routes:
        known = sorted(gateway.settings.routes)
        raise NotFound(
            f"gateway {gateway.slug!r} has no route {name!r}{did_you_mean(name, known)}", routes=known
        )
    return name


def _route(gateway: Gateway, name: str) -> dict[str, Any]:
    settings = gateway.settings
    return {"name": name, "version": settings.route_versions.get(name), "route": settings.routes[name]}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")
