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
from sluicegate.errors import BadRequest, Conflict, NotFound
from sluicegate.gateway import Gateway
from sluicegate.hints import did_you_mean
from sluicegate.routing import parse_route
from sluicegate.storage.base import RouteHistory, RouteVersion
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
        app.router.add_post(one + "/versions/{version}/restore", guard(Scope.ADMIN, self.restore_version))
        app.router.add_post(one + "/validate", guard(Scope.READ, self.validate))

    async def list_routes(self, request: web.Request) -> web.Response:
        gateway = await self._gateway(request)
        return _json({"result": [_route(gateway, name) for name in sorted(gateway.settings.routes)]})

    async def get_route(self, request: web.Request) -> web.Response:
        gateway = await self._gateway(request)
        return _json(_route(gateway, known_route(gateway, request.match_info["name"])))

    async def put_route(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return _json(
            _route(await self.save(request, await self._gateway(request), name, await _node(request)), name)
        )

    async def validate(self, request: web.Request) -> web.Response:
        """`{"valid": true}`, or the 400 saving it would get, naming the bad path inside the route."""
        gateway = await self._gateway(request)
        name, node = request.match_info["name"], await _node(request)
        parse_route(name, node, await self.provider_names(gateway), f"routes.{name}")
        return _json({"valid": True, "name": name})

    async def delete_route(self, request: web.Request) -> web.Response:
        await self.remove(request, await self._gateway(request), request.match_info["name"])
        return web.Response(status=204)

    async def list_versions(self, request: web.Request) -> web.Response:
        gateway = await self._gateway(request)
        name = request.match_info["name"]
        versions = await self.versions(gateway, name)
        current = gateway.settings.route_versions.get(name)
        return _json({
            "result": [
                {"version": v.version, "route": v.route, "removed": v.route is None, "ts": v.ts,
                 "actor": v.actor, "current": v.version == current}
                for v in versions
            ]
        })  # fmt: skip

    async def restore_version(self, request: web.Request) -> web.Response:
        gateway, name = await self._gateway(request), request.match_info["name"]
        restored = await self.restore(request, gateway, name, request.match_info["version"])
        return _json(_route(restored, name))

    # The operations behind the routes, also called by the Cloudflare-compatible API (`cfapi`).

    async def provider_names(self, gateway: Gateway) -> list[str] | None:
        """Every provider a target of the gateway's routes may name (its account's requests may)."""
        return await self._admin.provider_names(gateway.account)

    async def save(self, request: web.Request, gateway: Gateway, name: str, node: Any) -> Gateway:
        """Set route `name` to `node`: stored as its next version, unless unchanged."""
        routes = {**gateway.settings.routes, name: node}
        return await self._admin.change(request, gateway.account, gateway.slug, None, {"routes": routes})

    async def remove(self, request: web.Request, gateway: Gateway, name: str) -> Gateway:
        """Remove route `name` (a 404 naming the routes there are); its history stays."""
        name = known_route(gateway, name)
        routes = {k: v for k, v in gateway.settings.routes.items() if k != name}
        return await self._admin.change(request, gateway.account, gateway.slug, None, {"routes": routes})

    async def rename(self, request: web.Request, gateway: Gateway, name: str, new_name: str) -> Gateway:
        """Route `name` as `new_name`, in one change: the old name's history ends with a removal,
        the new name's starts (or continues) with the route. A 409 when `new_name` is taken."""
        name = known_route(gateway, name)
        if new_name in gateway.settings.routes:
            raise Conflict(f"gateway {gateway.slug!r} already has a route {new_name!r}", field="name")
        routes = {k: v for k, v in gateway.settings.routes.items() if k != name}
        routes[new_name] = gateway.settings.routes[name]
        return await self._admin.change(request, gateway.account, gateway.slug, None, {"routes": routes})

    async def versions(self, gateway: Gateway, name: str) -> list[RouteVersion]:
        """Every version of route `name`, newest first (removals too); a 404 when it never existed."""
        versions = await self._history.route_versions(gateway.account, gateway.slug, name)
        if not versions:
            raise NotFound(
                f"gateway {gateway.slug!r} has never had a route {name!r}",
                routes=sorted(gateway.settings.routes),
            )
        return versions

    async def restore(self, request: web.Request, gateway: Gateway, name: str, asked: str) -> Gateway:
        """The stored version, saved again as the route's newest version (history is never rewritten)."""
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
        return await self.save(request, gateway, name, found.route)

    async def _gateway(self, request: web.Request) -> Gateway:
        return await self._admin.gateway(request.match_info["account"], request.match_info["gateway"])


async def _node(request: web.Request) -> Any:
    try:
        return orjson.loads(await read_body(request))
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body must be a route node as JSON: {exc}") from exc


def known_route(gateway: Gateway, name: str) -> str:
    """`name`, or a 404 naming the gateway's routes (and the nearest)."""
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
