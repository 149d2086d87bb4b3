"""The fake Realtime server's refusals of a handshake (`realtime_server.py`), as OpenAI answers them:
its JSON error, an `x-request-id` on every answer, and a 429's `Retry-After` and `x-ratelimit-*`."""

from __future__ import annotations

import math

from aiohttp import web

_REQUEST_IDS = iter(range(1, 1 << 62))


def refusal(status: int, message: str, kind: str, code: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": kind, "code": code, "param": None}}
    # OpenAI tags every answer, errors included, with an id that support can trace.
    return web.json_response(
        body, status=status, headers={"x-request-id": f"req_fake_{next(_REQUEST_IDS):06d}"}
    )


def too_many_requests(model: str, retry_after_ms: int | None) -> web.Response:
    """OpenAI's 429: its error, when to come back, and the limits' state."""
    wait_ms = retry_after_ms if retry_after_ms is not None else 7000
    message = f"Rate limit reached for {model} on requests per min (RPM): Limit 3, Used 3, Requested 1."
    response = refusal(429, message, "requests", code="rate_limit_exceeded")
    response.headers.update(
        {
            "Retry-After": str(math.ceil(wait_ms / 1000)),
            "x-ratelimit-limit-requests": "3",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{wait_ms}ms",
        }
    )
    return response
