"""Ingress: a compat answer rendered in the client's own API when it does not speak OpenAI chat.

Placed right after Plan and AllowList, outside guardrails and the caches: those stages see the
chat answer every provider's translation produces (the caches store it so, and so serve one
meaning to whichever API asked), and this stage renders it for the client — a JSON body at once,
a stream chunk by chunk as it arrives, an error in the API's error shape. Errors the gateway
raises itself are shaped by the log stage (`log.error_reply`). A request passed through to the
API's own provider (`exchange.plan.hub` None) is answered as that provider answered. The usage the
chat answer or stream reported goes with the rendering (`Reply.reported_usage`): the meter reads it,
not the rendered answer's.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from functools import partial

from multidict import CIMultiDict

from sluicegate.exchange import Exchange, HubRequest, Reply
from sluicegate.ingress.base import IngressFormat, StreamRenderer
from sluicegate.pipeline import Handler
from sluicegate.pipeline.compat import malformed
from sluicegate.providers.base import JSON_TYPE, SSE_TYPE
from sluicegate.providers.openai import OPENAI


class Ingress:
    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        reply = await call_next(exchange)
        ingress, hub = exchange.request.ingress, exchange.plan.hub
        if ingress is None or hub is None:
            return reply
        rendered = render(ingress, hub, exchange.provider_slug, reply)
        if rendered.reported_usage is not None:
            exchange.response.reported_usage.append(rendered.reported_usage)
        return rendered


def render(ingress: IngressFormat, hub: HubRequest, provider: str, reply: Reply) -> Reply:
    """The chat `reply` in `ingress`'s shape. A chat answer the format cannot read is the
    provider's fault: `UpstreamMalformed` (502) naming it, or, in a stream, a broken-off body."""
    headers: CIMultiDict[str] = CIMultiDict(
        (k, v) for k, v in reply.headers.items() if k.lower() not in ("content-type", "content-length")
    )
    if reply.status >= 400:
        headers["Content-Type"] = JSON_TYPE
        if reply.stream is not None:
            return Reply(reply.status, headers, stream=_error_stream(ingress, reply.status, reply.stream))
        return Reply(reply.status, headers, body=ingress.error(reply.status, reply.body))
    if reply.stream is None:
        headers["Content-Type"] = JSON_TYPE
        with malformed(provider):
            body = ingress.answer(hub.asked, reply.body)
        # What the chat answer reported, whole: the format's usage may not say it all (Anthropic's
        # has no reasoning tokens). Read when measured, off the request's way. A count the gateway
        # made is no chat answer: it reported what it counted (pipeline/token_count.py).
        usage = reply.reported_usage if ingress.counts else partial(OPENAI.read_usage, hub.route, reply.body)
        return Reply(reply.status, headers, body=body, reported_usage=usage)
    headers["Content-Type"] = SSE_TYPE
    renderer = ingress.stream(hub.asked)
    stream = _rendered(renderer, provider, reply.stream)
    return Reply(reply.status, headers, stream=stream, reported_usage=renderer.usage)


async def _rendered(
    renderer: StreamRenderer, provider: str, stream: AsyncGenerator[bytes, None]
) -> AsyncGenerator[bytes, None]:
    async with aclosing(stream):
        async for chunk in stream:
            with malformed(provider):
                out = renderer.feed(chunk)
            if out:
                yield out
    with malformed(provider):
        last = renderer.close()
    if last:
        yield last


async def _error_stream(
    ingress: IngressFormat, status: int, stream: AsyncGenerator[bytes, None]
) -> AsyncGenerator[bytes, None]:
    async with aclosing(stream):
        body = b"".join([chunk async for chunk in stream])
    yield ingress.error(status, body)
