"""Request bodies, read within limits: at most `max_bytes`, all of it within `timeout` seconds.

Without a time limit a client that sends one byte every few seconds holds a connection and a
handler for as long as it likes. The limits live on the application (`BODY_LIMITS`), so every
handler that reads a body, proxy and admin API alike, reads it through `read_body`.

A stop (SIGTERM) during a body: the server drops the bytes that arrive once it has begun to stop
(aiohttp's connections close for reading then), so a body still on its way would never come. The
reads waiting for one are kept in the app's `WAITING_BODIES`; when the app stops, `stop_waiting`
ends them with `GatewayStopping` (503, Retry-After), and the request is refused at once.

A body that cannot be decoded (a `Content-Encoding` it is not in, chunked encoding broken after
the handler started reading) is the client's fault: a 400 that says so, not an internal error;
one in a `Content-Encoding` the gateway does not decode (`rot13`), a 415 naming those it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import StreamReader, web
from aiohttp.hdrs import CONTENT_ENCODING
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError

from sluicegate.endpoints.refusals import ACCEPT_ENCODING
from sluicegate.errors import (
    BadRequest,
    ClientGone,
    GatewayStopping,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedEncoding,
)
from sluicegate.headertext import header_text

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_bytes: int
    timeout: float  # seconds for the whole body, from the first read


DECODED = tuple(ACCEPT_ENCODING.split(", "))  # the codings aiohttp's parser undoes here
BODY_LIMITS = web.AppKey("sluicegate_body_limits", BodyLimits)
WAITING_BODIES = web.AppKey("sluicegate_waiting_bodies", set)  # the bodies still on their way


async def read_body(request: web.Request) -> bytes:
    """The whole request body; raises `PayloadTooLarge` (413), `RequestTimeout` (408) or
    `BadRequest` (400, a body that cannot be decoded)."""
    check_coding(request)
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
        with _waiting_for_body(request):
            async with asyncio.timeout(limits.timeout):
                return await request.read()
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


def check_coding(request: web.Request) -> None:
    """`UnsupportedEncoding` (415) for a body in a `Content-Encoding` the gateway did not decode on
    arrival. aiohttp's parser undoes exactly one coding, gzip or deflate (br and zstd with their
    libraries; without them the parser refuses the request, `refusals.py`), when the header is
    that one word; any other (`rot13`, `x-gzip`, `gzip, br`) it leaves as it came, and the body
    would go upstream unread and uncounted. `identity` is no coding."""
    if CONTENT_ENCODING not in request.headers or not request.body_exists:
        return
    lines = request.headers.getall(CONTENT_ENCODING)
    codings = [part.strip().lower() for line in lines for part in line.split(",")]
    codings = [coding for coding in codings if coding and coding != "identity"]
    if not codings or (len(lines) == 1 and [lines[0].strip().lower()] == codings and codings[0] in DECODED):
        return
    sent = header_text(", ".join(lines))
    raise UnsupportedEncoding(
        f"the gateway cannot decode a request body in Content-Encoding {sent[:60]!r}: it decodes"
        f" {' or '.join(DECODED)} (one of them, alone); send the body so, or uncompressed without"
        " the header",
        headers={"Accept-Encoding": ACCEPT_ENCODING},
        header="content-encoding",
        accepted=list(DECODED),
    )


@contextlib.contextmanager
def _waiting_for_body(request: web.Request) -> Iterator[None]:
    waiting: set[StreamReader] | None = request.config_dict.get(WAITING_BODIES)
    if waiting is None:
        yield
        return
    waiting.add(request.content)
    try:
        yield
    finally:
        waiting.discard(request.content)


def stop_waiting(app: web.Application) -> None:
    """End every read still waiting for a body: the server takes no more bytes once it stops."""
    for content in app[WAITING_BODIES]:
        if content.is_eof():  # all of it came: the read finishes
            continue
        content.set_exception(
            GatewayStopping(
                "the gateway began to stop before the request body arrived; send the request again",
                headers={"Retry-After": "0"},
            )
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
