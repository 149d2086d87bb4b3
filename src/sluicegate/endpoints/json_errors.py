"""The admin API's errors, every one as JSON in the gateway's error shape (`errors.py`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from sluicegate.endpoints.route_misses import allowed_methods, near_route, routing_miss
from sluicegate.errors import GatewayError, MethodNotAllowed, NotFound
from sluicegate.storage.full import storage_full

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_log = logging.getLogger(__name__)
ADMIN_PREFIX = "/api/v1"
ADMIN_HINT = (
    "the admin API's routes are under /api/v1/accounts/{account}/ (the first account is 'local'),"
    " listed in its schema at /api/v1/openapi.json and in docs/api.md"
)


@web.middleware
async def json_errors(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Every admin error is JSON: ours with their headers (a 503's `Retry-After`: the storage layer
    raises `DatabaseUnavailable` for a database unreachable or slow), aiohttp's own (unknown route,
    wrong method), and any other exception, a bug, as a 500 `internal_error` whose traceback is
    logged (not aiohttp's plain text; a TimeoutError no longer becomes its empty 504). A request no
    route takes is a 405 naming the methods its path takes, or a 404 naming the path probably
    meant (`route_misses.py`), with codes in words as every other error's."""
    try:
        return await handler(request)
    except GatewayError as error:
        if answered(request):
            raise
        response = web.Response(status=error.status, body=error.body(), content_type="application/json")
        response.headers.update(error.headers)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        miss = _miss(request) if routing_miss(request) is exc else None
        if miss is None:  # aiohttp's own, raised while handling: its reason, a code in words
            code = exc.reason.lower().replace(" ", "_")
            body = orjson.dumps({"error": {"message": exc.reason, "type": "sluicegate_error", "code": code}})
            return web.Response(status=exc.status, body=body, content_type="application/json")
        response = web.Response(status=miss.status, body=miss.body(), content_type="application/json")
        response.headers.update(miss.headers)
        return response
    except Exception as exc:
        if answered(request):
            raise
        if (full := storage_full(exc)) is not None:
            _log.warning("admin API %s %s refused: %s", request.method, request.path, exc)
            return web.Response(status=full.status, body=full.body(), content_type="application/json")
        _log.exception("admin API error on %s %s", request.method, request.path)
        return web.Response(status=500, body=internal_error(), content_type="application/json")


def _miss(request: web.Request) -> GatewayError | None:
    """The 405 naming the methods the path takes, or the 404 naming the path probably meant."""
    miss = routing_miss(request)
    if miss is None:
        return None
    if miss.status == 405:
        allowed = allowed_methods(miss)
        return MethodNotAllowed(
            f"{request.method} is not allowed on {request.path}: it takes {', '.join(allowed)}",
            headers={"Allow": ", ".join(allowed)},
            allowed=list(allowed),
        )
    near = near_route(request.match_info.apps[-1], request.path, request.method, ADMIN_PREFIX)
    if near is None:
        return NotFound(f"no route for {request.method} {request.path}", hint=ADMIN_HINT)
    takes = "" if request.method in near.methods else f" (it takes {', '.join(near.methods)})"
    return NotFound(
        f"no route for {request.method} {request.path}; did you mean {near.path}?{takes}",
        did_you_mean=near.path,
        hint=ADMIN_HINT,
    )


def internal_error() -> bytes:
    """The body of a 500 for an error the gateway did not expect: no detail of it (that is logged)."""
    return GatewayError("internal error; the gateway's log has the details").body()


def answered(request: web.Request) -> bool:
    """Whether a streamed answer (a log export) has begun: no other answer can be sent then."""
    return request.writer is not None and request.writer.output_size > 0
