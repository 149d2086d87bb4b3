"""Health check and the JSON 404 for paths that match no route."""

from __future__ import annotations

from aiohttp import web

from sluicegate.errors import NotFound
from sluicegate.metrics import CONTENT_TYPE, Metrics

ROUTE_HINT = (
    "provider endpoints are /v1/{account}/{gateway}/{provider}/{path}; the admin API is under /api/v1/"
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


async def not_found(request: web.Request) -> web.Response:
    error = NotFound(f"no route for {request.method} {request.path}", hint=ROUTE_HINT)
    return web.Response(status=error.status, body=error.body(), content_type="application/json")
