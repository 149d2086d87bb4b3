"""Cloudflare's v4 envelope, its page parameters, and its error shape.

Every answer is `{"success", "errors", "messages", "result", "result_info"}`; an error is one entry
of `errors`, `{"code", "message"}` (plus `source.pointer` when one field is to blame), with the
HTTP status of the native error it translates. The codes are Cloudflare's where a client is known
to look for them (10000 for authentication and permission), and Sluicegate's own otherwise; the
table is in docs/cloudflare-api.md.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from sluicegate.endpoints.json_errors import answered
from sluicegate.endpoints.route_misses import allowed_methods, near_route, routing_miss
from sluicegate.errors import BadRequest, GatewayError, Unauthorized
from sluicegate.storage.full import storage_full

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_log = logging.getLogger(__name__)

AUTHENTICATION = (
    10000  # Cloudflare's "Authentication error": a missing or bad token, and a missing permission
)
PREFIX = "/client/v4"  # where the API is mounted (cfapi/routes.py)
NO_ROUTE = 7003  # Cloudflare's "Could not route to …"
METHOD_NOT_ALLOWED = 7001
RATE_LIMITED = 971  # Cloudflare's "Please wait and consider throttling your request speed"
CODES: Mapping[int, int] = {
    400: 1001,
    401: AUTHENTICATION,
    403: AUTHENTICATION,
    404: 1002,
    405: METHOD_NOT_ALLOWED,
    408: 1005,
    409: 1003,
    413: 1004,
    429: RATE_LIMITED,
}
INTERNAL = 1000  # any 5xx
NOTE = 1000  # the code of a message that accompanies a success (Cloudflare numbers them too)
SERVED = (
    "this Sluicegate serves Cloudflare's accounts/{account_id}/ai-gateway/gateways routes: gateways, their"
    " logs, provider_configs, routes (dynamic routing, with versions and deployments) and url/{provider};"
    " and accounts/{account_id}/ai-gateway/custom-providers (see docs/cloudflare-api.md)"
)
GLOBAL_KEY = (
    "Cloudflare's global API key (X-Auth-Email / X-Auth-Key) is not accepted here: pass a Sluicegate"
    " token as the api_token (`Authorization: Bearer sg_…`)"
)


@dataclass(frozen=True, slots=True)
class Page:
    """Cloudflare's `page` (from 1) and `per_page`."""

    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def page_of(params: Mapping[str, str], default: int = 20, maximum: int = 100) -> Page:
    """`page` and `per_page` from the query; a 400 names a bad one and the range it must be in."""
    page = _positive(params, "page", 1, None)
    return Page(page, _positive(params, "per_page", default, maximum))


def success(
    result: Any,
    *,
    page: Page | None = None,
    count: int = 0,
    total: int | None = None,
    messages: Sequence[str] = (),
) -> web.Response:
    """`result` in the envelope; for a page of a listing, `result_info` says which and how many.
    `messages` are notes for the client (`{"code", "message"}` entries)."""
    info = None
    if page is not None:
        info = {"page": page.page, "per_page": page.per_page, "count": count, "total_count": total}
    return answer({"result": result, "result_info": info}, messages)


def answer(fields: Mapping[str, Any], messages: Sequence[str] = ()) -> web.Response:
    """A successful answer with `fields` beside `success`, `errors` and `messages`: the shape of
    the few routes whose answer Cloudflare's API puts outside `result` (`data`, `route`)."""
    notes = [{"code": NOTE, "message": message} for message in messages]
    body = {"success": True, "errors": [], "messages": notes, **fields}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def failure(status: int, message: str, pointer: str | None = None, code: int | None = None) -> web.Response:
    if code is None:
        code = CODES.get(status, INTERNAL if status >= 500 else status)
    error: dict[str, Any] = {"code": code, "message": message}
    if pointer:
        error["source"] = {"pointer": pointer}
    body = {"success": False, "errors": [error], "messages": [], "result": None}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


@web.middleware
async def cloudflare_errors(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Every error of `/client/v4` in Cloudflare's shape: ours (with their headers: the storage layer's
    503 for a database unreachable or slow has `Retry-After`), aiohttp's (unknown route, method),
    and any other exception's, as a 500."""
    try:
        return await handler(request)
    except GatewayError as error:
        if isinstance(error, Unauthorized) and "X-Auth-Key" in request.headers:
            return failure(error.status, GLOBAL_KEY)
        response = failure(error.status, error.message, _pointer(error))
        response.headers.update(error.headers)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if routing_miss(request) is not exc:
            return failure(exc.status, exc.reason)
        if exc.status == 404:
            near = near_route(request.match_info.apps[-1], request.path, request.method, PREFIX)
            if near is None:
                return failure(404, f"no route for {request.method} {request.path}; {SERVED}", code=NO_ROUTE)
            takes = "" if request.method in near.methods else f" (it takes {', '.join(near.methods)})"
            message = f"no route for {request.method} {request.path}; did you mean {near.path}?{takes}"
            return failure(404, message, code=NO_ROUTE)
        allowed = ", ".join(allowed_methods(exc))
        message = f"{request.method} is not allowed on {request.path}; allowed: {allowed}"
        response = failure(exc.status, message)
        response.headers["Allow"] = allowed
        return response
    except Exception as exc:  # a bug: a 500 in Cloudflare's shape, not aiohttp's plain text (the log has it)
        if answered(request):
            raise  # an answer has begun: no other can be sent
        if (full := storage_full(exc)) is not None:
            _log.warning("Cloudflare API %s %s refused: %s", request.method, request.path, exc)
            return failure(full.status, full.message)
        _log.exception("Cloudflare API error on %s %s", request.method, request.path)
        return failure(500, "internal error; the gateway's log has the details")


def _pointer(error: GatewayError) -> str | None:
    """A JSON pointer to the field a 400 blames (`retry_delay` → `/retry_delay`)."""
    field = error.details.get("field") if isinstance(error, BadRequest) else None
    return "/" + str(field).replace(".", "/") if field else None


def _positive(params: Mapping[str, str], name: str, default: int, maximum: int | None) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, got {raw!r}", param=name) from None
    if value < 1 or (maximum is not None and value > maximum):
        bound = f"between 1 and {maximum}" if maximum is not None else "1 or more"
        raise BadRequest(f"{name} must be {bound}, got {value}", param=name)
    return value
