"""Proxy endpoints: a provider's (`/v1/{account}/{gateway}/{provider}/{path}`) and the universal
one (`POST /v1/{account}/{gateway}`, an ordered list of provider requests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from aiohttp import HttpVersion, hdrs, web

from sluicegate.config_groups import UPSTREAM_TIMEOUT
from sluicegate.endpoints.body import BODY_LIMITS, check_coding, read_body
from sluicegate.endpoints.cors import allow, is_preflight, preflight
from sluicegate.endpoints.realtime import RealtimeEndpoint, is_upgrade
from sluicegate.endpoints.relay import write_reply
from sluicegate.endpoints.system import not_found
from sluicegate.endpoints.universal_socket import UniversalSockets
from sluicegate.errors import MethodNotAllowed
from sluicegate.exchange import Exchange, IncomingRequest
from sluicegate.ingress.base import IngressFormat
from sluicegate.pipeline import Handler
from sluicegate.pipeline.keys import on_own_keys
from sluicegate.providers.base import Route

POST = "POST"
OPTIONS = "OPTIONS"
CONTINUE = "100-continue"
HTTP_11 = HttpVersion(1, 1)
JSON = "application/json"
UNIVERSAL = "universal"
COMPAT = "compat"
REALTIME = "realtime"  # a WebSocket upgrade of a provider's realtime path
COMPAT_OPENAI = (
    "/compat/openai/"  # `/v1/{account}/{gateway}/compat/...`: the unified OpenAI-compatible endpoint
)


class ProxyEndpoint:
    def __init__(
        self,
        pipeline: Handler,
        clock: Callable[[], float] = time.time,
        realtime: RealtimeEndpoint | None = None,
        ingress: Callable[[str], IngressFormat | None] | None = None,
        sockets: UniversalSockets | None = None,
        write_timeout: float = UPSTREAM_TIMEOUT,
    ) -> None:
        self._pipeline = pipeline
        self._clock = clock  # stamps each request's receive time (injectable for retention tests)
        self._realtime = realtime  # WebSocket upgrades of a provider's path
        self._ingress = ingress  # compat path -> the client API spoken there, besides chat
        self._sockets = sockets  # the universal endpoint's WebSockets API (Cloudflare's non-realtime one)
        self._write_timeout = write_timeout  # how long a write of a streamed answer waits on its client

    async def provider(self, request: web.Request) -> web.StreamResponse:
        # The raw (still percent-encoded) path, so the upstream gets the bytes the client sent.
        path, _, query = origin_form(request.raw_path).partition("?")
        _, _, account, gateway, provider, tail = _split_path(path)
        if request.method == OPTIONS and is_preflight(request):
            return preflight(request, POST if provider == COMPAT else None)
        upgrade = self._realtime is not None and is_upgrade(request)
        incoming = IncomingRequest(
            gateway_slug=gateway,
            provider_name=provider,
            route=Route(account, tail, query),
            method=request.method,
            headers=request.headers,
            read_body=partial(_read_body, request),
            kind=REALTIME if upgrade else COMPAT if provider == COMPAT else "provider",
            ingress=self._ingress(tail) if provider == COMPAT and self._ingress is not None else None,
            received_at=self._clock(),
        )
        if upgrade and self._realtime is not None:
            return await self._realtime.handle(request, Exchange(incoming))
        if provider == COMPAT and request.method != POST:  # its every path takes a JSON body
            return not_allowed(request, POST)
        return await self._run(request, Exchange(incoming))

    async def provider_root(self, request: web.Request) -> web.StreamResponse:
        """`/v1/{account}/{gateway}/{provider}`, no path after it: a WebSocket upgrade is a realtime
        session, as Cloudflare's examples open one (`wss://…/openai?model=…`); anything else is
        answered as it was before this route (host-in-path's, a 404)."""
        if self._realtime is not None and is_upgrade(request):
            return await self.provider(request)
        return await self.hosted(request)

    async def universal(self, request: web.Request) -> web.StreamResponse:
        if self._sockets is not None and is_upgrade(request):
            return await self._sockets.handle(request)
        if request.method != POST:
            return preflight(request, POST) if is_preflight(request) else not_allowed(request, POST)
        info = request.match_info
        incoming = IncomingRequest(
            gateway_slug=info["gateway"],
            provider_name=UNIVERSAL,
            route=Route(info["account"], "", ""),
            method=request.method,
            headers=request.headers,
            read_body=partial(_read_body, request),
            kind=UNIVERSAL,
            received_at=self._clock(),
        )
        return await self._run(request, Exchange(incoming))

    async def hosted(self, request: web.Request) -> web.StreamResponse:
        """`/{upstream-host}/{path}` and `/compat/openai/{host}/{path}` (Fastly AI Accelerator's form)."""
        if request.method == OPTIONS and is_preflight(request):
            return preflight(request)
        path, _, query = origin_form(request.raw_path).partition("?")
        compat = path.startswith(COMPAT_OPENAI)
        host, _, rest = path.removeprefix(COMPAT_OPENAI if compat else "/").partition("/")
        if not compat and "." not in host:
            return await not_found(request)
        incoming = IncomingRequest(
            gateway_slug="",  # chosen by the token (Resolve)
            provider_name=host,
            route=Route("", rest, query),
            method=request.method,
            headers=request.headers,
            read_body=partial(_read_body, request),
            kind="host-compat" if compat else "host",
            received_at=self._clock(),
            upstream_host=host,
        )
        return await self._run(request, Exchange(incoming))

    @staticmethod
    async def expect(request: web.Request) -> None:
        """The routes' `Expect` handler. aiohttp's sends `100 Continue` at once, inviting the body
        of a request the gateway may refuse (401, 404, 413 from its Content-Length, 429): here the
        100 waits until the pipeline reads the body (`_read_body`), so a refusal is the final answer
        instead and the body is never sent (RFC 9110 §10.1.1)."""
        if request.version >= HTTP_11 and request.headers[hdrs.EXPECT].lower() != CONTINUE:
            raise web.HTTPExpectationFailed(text="the gateway knows only Expect: 100-continue")

    async def _run(self, request: web.Request, exchange: Exchange) -> web.StreamResponse:
        reply = await self._pipeline(exchange)
        if hdrs.ORIGIN in request.headers:  # perhaps a web page on another origin: endpoints/cors.py
            allow(request.headers, reply.headers, own_keys=on_own_keys(exchange.plan.steps))
        return await write_reply(request, reply, self._write_timeout)


async def _read_body(request: web.Request) -> bytes:
    """The body, after the `100 Continue` its client waits for (`ProxyEndpoint.expect`); none for
    a body declared over the limit, which `read_body` refuses at once from its Content-Length, nor
    for one in a coding the gateway does not decode (`check_coding`)."""
    check_coding(request)
    if (
        _expects_continue(request)
        and (request.content_length or 0) <= request.config_dict[BODY_LIMITS].max_bytes
        and not request.content.is_eof()
    ):
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # as aiohttp does: the answer proper is still to come
    return await read_body(request)


async def close_uninvited(request: web.Request, response: web.StreamResponse) -> None:
    """The app's `on_response_prepare`: an answer given before the body an `Expect: 100-continue`
    request was never invited to send (`ProxyEndpoint.expect`: a refusal, a 405, a 404) closes the
    connection and says so. The client may send the body all the same, or not: the connection
    cannot be read on (a next request would be taken for that body)."""
    if hdrs.EXPECT in request.headers and _expects_continue(request) and not request.content.is_eof():
        response.force_close()  # the server closes after the answer; the signal comes after the
        response.headers[hdrs.CONNECTION] = "close"  # headers were prepared, so the answer says so too


def _expects_continue(request: web.Request) -> bool:
    return (
        hdrs.EXPECT in request.headers
        and request.version >= HTTP_11
        and request.headers[hdrs.EXPECT].lower() == CONTINUE
    )


def not_allowed(request: web.Request, allowed: str) -> web.Response:
    """405 for a method an endpoint does not take, answered before the pipeline: nothing goes
    upstream and, as for a path no route serves, nothing is logged."""
    error = MethodNotAllowed(
        f"{request.method} is not allowed on {request.path}: it takes {allowed}",
        headers={"Allow": allowed},
        allowed=[allowed],
    )
    return web.Response(status=error.status, headers=error.headers, body=error.body(), content_type=JSON)


def origin_form(target: str) -> str:
    """The request target as a path and query, as sent. aiohttp routes an absolute-form target
    (`POST http://host/v1/…`, which a server must accept: RFC 9112 §3.2.2) by its path, but its
    `raw_path` is the whole target, scheme and authority included."""
    if target.startswith("/"):
        return target
    _, separator, rest = target.partition("://")
    if not separator:  # `*` (OPTIONS), or authority-form (CONNECT): neither names a path
        return target
    start = min((at for at in (rest.find("/"), rest.find("?")) if at >= 0), default=len(rest))
    return "/" + rest[start:].removeprefix("/")


def _split_path(path: str) -> list[str]:
    parts = path.split("/", 5)
    return parts + [""] * (6 - len(parts))
