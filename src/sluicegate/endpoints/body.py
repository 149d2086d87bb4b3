"""Request bodies, read within limits: at most `max_bytes`, all of it within `timeout` seconds.

Without a time limit a client that sends one byte every few seconds holds a connection and a
handler for as long as it likes. The limits live on the application (`BODY_LIMITS`), so every
handler that reads a body, proxy and admin API alike, reads it through `read_body`.

A stop (SIGTERM) during a body: the server drops the bytes that arrive once it has begun to stop
(aiohttp's connections close for reading then), so a body still on its way would never come; the
app sets `STOPPING` then, and a read still waiting ends with `GatewayStopping` (503, Retry-After).

A body that cannot be decoded (a `Content-Encoding` it is not in, chunked encoding broken after
the handler started reading) is the client's fault: a 400 that says so, not an internal error.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError

from sluicegate.errors import BadRequest, ClientGone, GatewayStopping, PayloadTooLarge, RequestTimeout
from sluicegate.headertext import header_text

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_bytes: int
    timeout: float  # seconds for the whole body, from the first read


BODY_LIMITS = web.AppKey("sluicegate_body_limits", BodyLimits)
STOPPING = web.AppKey("sluicegate_stopping", asyncio.Event)  # set when the app begins to stop


async def read_body(request: web.Request) -> bytes:
    """The whole request body; raises `PayloadTooLarge` (413), `RequestTimeout` (408) or
    `BadRequest` (400, a body that cannot be decoded)."""
    limits = request.config_dict[BODY_LIMITS]
    declared = request.content_length
    if declared is not None and declared > limits.max_bytes:  # refused before waiting for any of it
        raise PayloadTooLarge(
            f"request body of {declared} bytes (Content-Length) exceeds the limit of"
            f" {limits.max_bytes} bytes",
            limit=limits.max_bytes,
        )
    try:
        if request.content.is_eof():  # all of it arrived with the headers: nothing left to wait for
            return await request.read()
        async with asyncio.timeout(limits.timeout):
            return await _read_unless_stopping(request)
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge(
            f"request body exceeds the limit of {limits.max_bytes} bytes", limit=limits.max_bytes
        ) from exc
    except web.RequestPayloadError as exc:
        raise _undecodable(request, exc) from exc
    except ConnectionResetError as exc:  # the client hung up, even after its whole body arrived
        raise ClientGone("client disconnected before the request body was read") from exc
    except TimeoutError as exc:
        # The path without its query: some providers take their key as `?key=`.
        _log.warning(
            "request body of %s %s from %s incomplete after %g s: answered 408",
            request.method, request.path, request.remote, limits.timeout,
        )  # fmt: skip
        raise RequestTimeout(
            f"the request body did not arrive within {limits.timeout:g} s", timeout_s=limits.timeout
        ) from exc


async def _read_unless_stopping(request: web.Request) -> bytes:
    stopping = request.config_dict.get(STOPPING)
    if stopping is None:
        return await request.read()
    reading = asyncio.ensure_future(request.read())
    halted = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait((reading, halted), return_when=asyncio.FIRST_COMPLETED)
    finally:
        halted.cancel()
        if not reading.done():
            reading.cancel()
        elif not reading.cancelled():
            reading.exception()  # seen: a caller cancelled meanwhile never asks for it
    if reading.done() and not reading.cancelled():
        return reading.result()  # the whole body, even if the stop came with its last bytes
    raise GatewayStopping(
        "the gateway began to stop before the request body arrived; send the request again",
        headers={"Retry-After": "0"},
    )


def _undecodable(request: web.Request, error: web.RequestPayloadError) -> BadRequest:
    cause = error.__cause__
    encoding = header_text(request.headers.get("Content-Encoding", ""))
    if isinstance(cause, ContentEncodingError) and encoding:
        return BadRequest(
            f"the request body is not valid {encoding} data, as its Content-Encoding says;"
            " send it compressed that way, or uncompressed without the header",
            header="content-encoding",
        )
    reason = cause.message if isinstance(cause, HttpProcessingError) else str(error)
    return BadRequest(f"the request body could not be read: {reason}")
