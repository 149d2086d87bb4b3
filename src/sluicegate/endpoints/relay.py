"""Writing a pipeline `Reply` to the client: whole, or chunk by chunk as it arrives."""

from __future__ import annotations

import asyncio

from aiohttp import web

from sluicegate.endpoints.client_writes import WriteWatch
from sluicegate.errors import GatewayError
from sluicegate.exchange import Reply


async def write_reply(request: web.Request, reply: Reply, write_timeout: float) -> web.StreamResponse:
    """`write_timeout`: how long one write of a streamed answer may wait on its client (then the
    connection is closed: client_writes.py)."""
    if reply.stream is None:
        return web.Response(status=reply.status, headers=reply.headers, body=reply.body)
    response = web.StreamResponse(status=reply.status, headers=reply.headers)
    stream = reply.stream
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None  # aiohttp runs each handler in a task
    watch, clock = WriteWatch(loop, write_timeout, task), loop.time
    try:
        await response.prepare(request)
        async for chunk in stream:
            watch.since = clock()
            await response.write(chunk)
            watch.since = None
        watch.since = clock()
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away; closing the stream below cancels the upstream request
    except GatewayError:
        # The upstream broke off after the status line went out: break the client's connection too,
        # so it sees an incomplete response rather than a clean, truncated one.
        if request.transport is not None:
            request.transport.abort()
    finally:
        watch.stop()
        await stream.aclose()
    return response
