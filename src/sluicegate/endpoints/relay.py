"""Writing a pipeline `Reply` to the client: whole, or chunk by chunk as it arrives."""

from __future__ import annotations

from aiohttp import web

from sluicegate.errors import GatewayError
from sluicegate.exchange import Reply


async def write_reply(request: web.Request, reply: Reply) -> web.StreamResponse:
    if reply.stream is None:
        return web.Response(status=reply.status, headers=reply.headers, body=reply.body)
    response = web.StreamResponse(status=reply.status, headers=reply.headers)
    stream = reply.stream
    try:
        await response.prepare(request)
        async for chunk in stream:
            await response.write(chunk)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away; closing the stream below cancels the upstream request
    except GatewayError:
        # The upstream broke off after the status line went out: break the client's connection too,
        # so it sees an incomplete response rather than a clean, truncated one.
        if request.transport is not None:
            request.transport.abort()
    finally:
        await stream.aclose()
    return response
