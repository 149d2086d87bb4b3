"""Health check, the front page, `/metrics`, and the JSON 404 for paths that match no route."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from sluicegate.endpoints.guard import TOKEN, Guard, Handler
from sluicegate.errors import Forbidden, NotFound
from sluicegate.metrics import CONTENT_TYPE, Metrics
from sluicegate.tokens import Scope

ROUTE_HINT = (
    "the dashboard is at /dashboard/; provider endpoints are /v1/{account}/{gateway}/{provider}/{path};"
    " the admin API is under /api/v1/ (schema at /api/v1/openapi.json)"
)


class Warming(Protocol):
    """What `/healthz` asks of the semantic cache."""

    @property
    def state(self) -> str: ...

    @property
    def starting(self) -> bool: ...


class HealthEndpoint:
    """`/healthz`: 503 `starting` while the semantic cache's models load at start (when a gateway
    uses it), so a load balancer sends no traffic before they can answer; then 200 `ok`. The body
    also says what the semantic cache is doing (cold, warming, ready, failed)."""

    def __init__(self, semantic: Warming) -> None:
        self._semantic = semantic

    async def handle(self, request: web.Request) -> web.Response:
        starting = self._semantic.starting
        body = {"status": "starting" if starting else "ok", "semantic_cache": self._semantic.state}
        return web.json_response(body, status=503 if starting else 200)


class MetricsEndpoint:
    """`/metrics` in Prometheus text format. It names no secret, but it names every gateway and its
    traffic: with `guard`, only a `read` token that is not limited to some gateways may scrape it
    (Prometheus sends it as `Authorization: Bearer`); without, scrape it from inside the network."""

    def __init__(self, metrics: Metrics, guard: Guard | None) -> None:
        self._metrics = metrics
        self.handle: Handler = guard(Scope.READ, self._scrape) if guard is not None else self._scrape

    async def _scrape(self, request: web.Request) -> web.Response:
        token = request.get(TOKEN)
        if token is not None and token.gateways is not None:
            raise Forbidden(
                "/metrics covers every gateway: scrape it with a read token not limited to gateways",
                scope=Scope.READ.value,
            )
        response = web.Response(body=await self._metrics.scrape())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response


async def front_page(request: web.Request) -> web.Response:
    """`/`: a browser goes to the dashboard; any other client gets the 404 that says where things are."""
    if "text/html" in request.headers.get("Accept", ""):
        raise web.HTTPFound("dashboard/")  # relative, like /dashboard's own redirect
    error = NotFound(f"nothing is served at /: {ROUTE_HINT}", dashboard="/dashboard/", hint=ROUTE_HINT)
    return web.Response(status=error.status, body=error.body(), content_type="application/json")


async def not_found(request: web.Request) -> web.Response:
    error = NotFound(f"no route for {request.method} {request.path}", hint=ROUTE_HINT)
    return web.Response(status=error.status, body=error.body(), content_type="application/json")
