"""Health check and the JSON 404 for paths that match no route."""

from __future__ import annotations

from aiohttp import web

from sluicegate.errors import NotFound

ROUTE_HINT = (
    "provider endpoints are /v1/{account}/{gateway}/{provider}/{path}; the admin API is under /api/v1/"
)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def not_found(request: web.Request) -> web.Response:
    error = NotFound(f"no route for {request.method} {request.path}", hint=ROUTE_HINT)
    return web.Response(status=error.status, body=error.body(), content_type="application/json")
