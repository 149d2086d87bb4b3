"""Health check, the front page, `/metrics`, and the JSON 404 for paths that match no route."""

from __future__ import annotations

from aiohttp import web

from sluicegate.endpoints.guard import TOKEN, Guard, Handler
from sluicegate.errors import Forbidden, NotFound
from sluicegate.metrics import CONTENT_TYPE, Metrics
from sluicegate.tokens import Scope

ROUTE_HINT = (
    "the dashboard is at /dashboard/; provider endpoints are /v1/{account}/{gateway}/{provider}/{path};"
    " the admin API is under /api/v1/ (schema at /api/v1/openapi.json)"
)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


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
        response = web.Response(body=self._metrics.exposition())
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
