"""`…/gateways/{gateway_id}/routes`: Cloudflare's dynamic routes over the gateway's own routes.

A Cloudflare route is a Sluicegate route: its id is its name, its elements translate to and from
the route's node (route_elements.py, route_graph.py), and its versions are the route's stored
versions. Every write goes through the native `RouteApi` operations (versioned, audited).

Sluicegate serves each version as soon as it is saved, so `create_version` deploys it too, and
every version is also a deployment; deploying an earlier version saves it again as the newest
(the native restore). Both say so in the answer's `messages`.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from sluicegate.cfapi.envelope import Page, answer, page_of, success
from sluicegate.cfapi.params import only
from sluicegate.cfapi.route_elements import route_node
from sluicegate.cfapi.route_graph import route_elements
from sluicegate.cfapi.settings import iso_time
from sluicegate.endpoints.admin import AdminApi
from sluicegate.endpoints.body import read_body
from sluicegate.endpoints.route_api import RouteApi, known_route
from sluicegate.errors import BadRequest, Conflict, NotFound
from sluicegate.gateway import Gateway
from sluicegate.hints import did_you_mean
from sluicegate.routing.route import ROUTE_NAME
from sluicegate.storage.base import RouteVersion

DEPLOYED_AT_ONCE = "Sluicegate serves a route's version as soon as it is saved: this version is deployed"
_ORDER = {"order_by": "created_at", "order_by_direction": "desc"}


class CloudflareRoutes:
    def __init__(self, admin: AdminApi, routes: RouteApi) -> None:
        self._admin = admin
        self._routes = routes

    async def list_routes(self, request: web.Request) -> web.Response:
        only(request.query, "page", "per_page")
        page = page_of(request.query)
        gateway = await self._gateway(request)
        names = sorted(gateway.settings.routes)[page.offset : page.offset + page.per_page]
        shown = [await self._shown(gateway, name) for name in names]
        return answer({"data": {"routes": shown, **_paged(page, "name", "asc")}})

    async def create(self, request: web.Request) -> web.Response:
        body = await _body(request, "name", "elements")
        name = _name(body.get("name"))
        gateway = await self._gateway(request)
        if name in gateway.settings.routes:
            raise Conflict(
                f"name: gateway {gateway.slug!r} already has a route {name!r}; add a version to it"
                f" (POST …/routes/{name}/versions) or delete it first",
                field="name",
            )
        node = route_node(name, body.get("elements"), await self._routes.provider_names(gateway))
        saved = await self._routes.save(request, gateway, name, node)
        return success(await self._shown(saved, name))

    async def get(self, request: web.Request) -> web.Response:
        gateway, name = await self._route(request)
        return success(await self._shown(gateway, name))

    async def rename(self, request: web.Request) -> web.Response:
        """Cloudflare's update, which changes only the name (and so, here, the id)."""
        body = await _body(request, "name")
        gateway, name = await self._route(request)
        new_name = _name(body.get("name"))
        if new_name != name:
            gateway = await self._routes.rename(request, gateway, name, new_name)
        return answer({"route": await self._shown(gateway, new_name)})

    async def delete(self, request: web.Request) -> web.Response:
        """Deletes the route and answers it as it was; its versions stay in its history."""
        gateway, name = await self._route(request)
        shown = await self._shown(gateway, name)
        await self._routes.remove(request, gateway, name)
        return success(shown)

    async def list_versions(self, request: web.Request) -> web.Response:
        gateway, name = await self._route(request)
        page = page_of(request.query)
        kept = _kept(await self._history(gateway, name))
        current = gateway.settings.route_versions.get(name)
        shown = [_version(v, current) for v in kept[page.offset : page.offset + page.per_page]]
        return answer({"data": {"versions": shown, **_paged(page, **_ORDER)}})

    async def create_version(self, request: web.Request) -> web.Response:
        body = await _body(request, "elements")
        gateway, name = await self._route(request)
        node = route_node(name, body.get("elements"), await self._routes.provider_names(gateway))
        saved = await self._routes.save(request, gateway, name, node)
        return success(await self._shown(saved, name), messages=[DEPLOYED_AT_ONCE])

    async def get_version(self, request: web.Request) -> web.Response:
        gateway, name = await self._route(request)
        asked = request.match_info["version_id"]
        kept = {str(v.version): v for v in _kept(await self._history(gateway, name))}
        if asked not in kept:
            raise NotFound(f"route {name!r} has no version {asked!r}", versions=sorted(kept, key=int))
        found = kept[asked]
        current = gateway.settings.route_versions.get(name)
        modified = await self._shown(gateway, name)
        return success(
            {
                "id": name,
                "name": name,
                "gateway_id": gateway.slug,
                "modified_at": modified["modified_at"],
                "elements": route_elements(found.route),
                **_version(found, current),
            }
        )

    async def list_deployments(self, request: web.Request) -> web.Response:
        """Each version, deployed when it was saved."""
        gateway, name = await self._route(request)
        page = page_of(request.query)
        kept = _kept(await self._history(gateway, name))
        shown = [_deployment(v) for v in kept[page.offset : page.offset + page.per_page]]
        return answer({"data": {"deployments": shown, **_paged(page, **_ORDER)}})

    async def create_deployment(self, request: web.Request) -> web.Response:
        """Serves `version_id`: already served, nothing changes; else it is saved again as the newest."""
        body = await _body(request, "version_id")
        gateway, name = await self._route(request)
        asked = body.get("version_id")
        if not isinstance(asked, str | int) or isinstance(asked, bool):
            raise BadRequest(
                "version_id: required: the version to deploy, as listed by …/versions", field="version_id"
            )
        messages = []
        if str(asked) != str(gateway.settings.route_versions.get(name)):
            gateway = await self._routes.restore(request, gateway, name, str(asked))
            number = gateway.settings.route_versions.get(name)
            messages.append(f"version {asked} was saved again as version {number}, which is now served")
        return success(await self._shown(gateway, name), messages=messages)

    async def _shown(self, gateway: Gateway, name: str) -> dict[str, Any]:
        """The route as Cloudflare's get answers it, with its served version and deployment."""
        current = gateway.settings.route_versions.get(name)
        life = _life(await self._history(gateway, name))
        served = next((v for v in life if v.version == current), life[0])  # the newest is served
        elements = route_elements(gateway.settings.routes[name])
        return {
            "id": name,
            "name": name,
            "account_tag": gateway.account,
            "gateway_id": gateway.slug,
            "created_at": iso_time(life[-1].ts),
            "modified_at": iso_time(served.ts),
            "elements": elements,
            "version": _version(served, current),
            "deployment": _deployment(served),
        }

    async def _history(self, gateway: Gateway, name: str) -> list[RouteVersion]:
        """The route's versions; a route given with its gateway's settings at creation has none yet,
        and shows as one version 0 of the gateway's own time."""
        try:
            return await self._routes.versions(gateway, name)
        except NotFound:
            ts = gateway.modified_at or gateway.created_at
            return [RouteVersion(name, 0, gateway.settings.routes[name], ts, "")]

    async def _route(self, request: web.Request) -> tuple[Gateway, str]:
        gateway = await self._gateway(request)
        return gateway, known_route(gateway, request.match_info["route"])

    async def _gateway(self, request: web.Request) -> Gateway:
        return await self._admin.gateway(request.match_info["account"], request.match_info["gateway"])


def _kept(versions: list[RouteVersion]) -> list[RouteVersion]:
    """The versions that hold a route (not removals), newest first."""
    return [v for v in versions if v.route is not None]


def _life(versions: list[RouteVersion]) -> list[RouteVersion]:
    """The versions since the route was last created (newest first): it was created at the last."""
    life = []
    for version in versions:
        if version.route is None:
            break
        life.append(version)
    return life


def _version(version: RouteVersion, current: int | None) -> dict[str, Any]:
    data = orjson.dumps(route_elements(version.route)).decode()
    return {
        "version_id": str(version.version),
        "active": "true" if version.version == current else "false",
        "created_at": iso_time(version.ts),
        "data": data,
        "is_valid": True,
    }


def _deployment(version: RouteVersion) -> dict[str, Any]:
    number = str(version.version)
    return {"deployment_id": number, "version_id": number, "created_at": iso_time(version.ts)}


def _paged(page: Page, order_by: str, order_by_direction: str) -> dict[str, Any]:
    return {
        "page": page.page,
        "per_page": page.per_page,
        "order_by": order_by,
        "order_by_direction": order_by_direction,
    }


def _name(value: Any) -> str:
    if not isinstance(value, str) or not ROUTE_NAME.fullmatch(value):
        raise BadRequest(
            f"name: {value!r} is not a route name: 1 to 64 letters, digits, - or _, starting with a"
            " letter or digit (clients call it as dynamic/<name>)",
            field="name",
        )
    return value


async def _body(request: web.Request, *fields: str) -> dict[str, Any]:
    """The JSON body: an object of `fields`; any other field is a 400 naming the nearest."""
    try:
        data = orjson.loads(await read_body(request) or b"{}")
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest(f"request body: expected an object with {', '.join(fields)}")
    for key in data:
        if key not in fields:
            raise BadRequest(f"{key}: unknown field{did_you_mean(str(key), fields)}", field=str(key))
    return data
