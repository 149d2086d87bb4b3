"""The admin API's errors, every one as JSON in the gateway's error shape (`errors.py`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from sluicegate.errors import GatewayError

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_log = logging.getLogger(__name__)


@web.middleware
async def json_errors(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Every admin error is JSON: ours with their headers (a 503's `Retry-After`: the storage layer
    raises `DatabaseUnavailable` for a database unreachable or slow), aiohttp's own (unknown route,
    wrong method), and any other exception, a bug, as a 500 `internal_error` whose traceback is
    logged (not aiohttp's plain text; a TimeoutError no longer becomes its empty 504)."""
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
        body = orjson.dumps(
            {"error": {"message": exc.reason, "type": "sluicegate_error", "code": exc.status}}
        )
        return web.Response(status=exc.status, body=body, content_type="application/json")
    except Exception:
        if answered(request):
            raise
        _log.exception("admin API error on %s %s", request.method, request.path)
        return web.Response(status=500, body=internal_error(), content_type="application/json")


def internal_error() -> bytes:
    """The body of a 500 for an error the gateway did not expect: no detail of it (that is logged)."""
    return GatewayError("internal error; the gateway's log has the details").body()


def answered(request: web.Request) -> bool:
    """Whether a streamed answer (a log export) has begun: no other answer can be sent then."""
    return request.writer is not None and request.writer.output_size > 0
