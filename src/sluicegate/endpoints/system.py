"""Health check and the JSON 404 for paths that match no route."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from sluicegate.errors import NotFound
from sluicegate.metrics import CONTENT_TYPE, Metrics

ROUTE_HINT = (
    "provider endpoints are /v1/{account}/{gateway}/{provider}/{path}; the admin API is under /api/v1/"
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
