"""Request bodies, read within limits: at most `max_bytes`, all of it within `timeout` seconds.

Without a time limit a client that sends one byte every few seconds holds a connection and a
handler for as long as it likes. The limits live on the application (`BODY_LIMITS`), so every
handler that reads a body, proxy and admin API alike, reads it through `read_body`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import web

from sluicegate.errors import PayloadTooLarge, RequestTimeout

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_bytes: int
    timeout: float  # seconds for the whole body, from the first read


BODY_LIMITS = web.AppKey("sluicegate_body_limits", BodyLimits)


async def read_body(request: web.Request) -> bytes:
    """The whole request body; raises `PayloadTooLarge` (413) or `RequestTimeout` (408)."""
    limits = request.config_dict[BODY_LIMITS]
    try:
        async with asyncio.timeout(limits.timeout):
            return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge(
            f"request body exceeds the limit of {limits.max_bytes} bytes", limit=limits.max_bytes
        ) from exc
    except TimeoutError as exc:
        # The path without its query: some providers take their key as `?key=`.
        _log.warning(
            "request body of %s %s from %s incomplete after %g s: answered 408",
            request.method, request.path, request.remote, limits.timeout,
        )  # fmt: skip
        raise RequestTimeout(
            f"the request body did not arrive within {limits.timeout:g} s", timeout_s=limits.timeout
        ) from exc
