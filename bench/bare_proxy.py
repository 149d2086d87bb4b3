"""The baseline: the simplest aiohttp pass-through proxy (uvloop), to tell the gateway's own cost apart.

Every request is read whole and POSTed (same method, path and query) to the upstream over one pooled
``ClientSession``; the answer's status, body and Content-Type come back. An SSE answer (the request
had ``"stream": true``) is relayed chunk by chunk as it arrives. No routing, auth, logging, cache or
limits: whatever any aiohttp proxy costs on this machine, and nothing more. ``GET /healthz`` answers
200 without going upstream.

Run as a script so that it does not depend on the working directory::

    python bench/bare_proxy.py --upstream http://127.0.0.1:8001 --host 127.0.0.1 --port 8002
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import aiohttp
import uvloop
from aiohttp import web

SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM: web.AppKey[str] = web.AppKey("upstream", str)
#: Request headers passed on (the fake upstream needs none, a real one needs the key).
FORWARDED = ("Content-Type", "Authorization", "x-bench-delay-ms")  # the last: a slow upstream


async def healthz(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


async def proxy(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
    url = request.app[UPSTREAM] + request.path_qs
    async with request.app[SESSION].request(request.method, url, data=body, headers=headers) as upstream:
        content_type = upstream.headers.get("Content-Type", "application/octet-stream")
        if content_type.startswith("text/event-stream"):
            response = web.StreamResponse(status=upstream.status, headers={"Content-Type": content_type})
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
        payload = await upstream.read()
    return web.Response(status=upstream.status, body=payload, headers={"Content-Type": content_type})


def create_app(upstream: str) -> web.Application:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")

    async def session(app: web.Application) -> AsyncIterator[None]:
        # One pooled session: keep-alive connections to the upstream, as the gateway keeps them.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
            app[SESSION] = client
            yield

    app.cleanup_ctx.append(session)
    app.router.add_get("/healthz", healthz)
    app.router.add_route("*", "/{tail:.*}", proxy)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--upstream", required=True, help="base URL of the upstream, e.g. http://127.0.0.1:8001"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    args = parser.parse_args(argv)
    web.run_app(
        create_app(args.upstream),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
