"""Health check, the front page, and the JSON 404 for paths that match no route."""

from __future__ import annotations

from aiohttp import web

from sluicegate.errors import NotFound
from sluicegate.metrics import CONTENT_TYPE, Metrics

ROUTE_HINT = (
    "the dashboard is at /dashboard/; provider endpoints are /v1/{account}/{gateway}/{provider}/{path};"
    " the admin API is under /api/v1/ (schema at /api/v1/openapi.json)"
)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


class MetricsEndpoint:
    """`/metrics` in Prometheus text format (scrape it from inside the network; it names no secret)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def handle(self, request: web.Request) -> web.Response:
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
