"""Ingress: a compat answer rendered in the client's own API when it does not speak OpenAI chat.

Placed right after Plan and AllowList, outside guardrails and the caches: those stages see the
chat answer every provider's translation produces (the caches store it so, and so serve one
meaning to whichever API asked), and this stage renders it for the client — a JSON body at once,
a stream chunk by chunk as it arrives, an error in the API's error shape. Errors the gateway
raises itself are shaped by the log stage (`log.error_reply`). A request passed through to the
API's own provider (`exchange.plan.hub` None) is answered as that provider answered, and so is a
route whose targets render their own answers (pipeline/compat_route.py). The usage the
chat answer or stream reported goes with the rendering (`Reply.reported_usage`): the meter reads it,
not the rendered answer's. The upstream's request id goes under the header the client's SDK reads
(compat/request_ids.py), a stored answer's too. The output items of a rendered Responses answer are
kept (pipeline/response_items.py) before its last bytes leave. A translated answer whose chat request
says `parallel_tool_calls: false` is cut to one tool call per choice first, for every compat
client, chat's too (pipeline/one_call.py).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import replace
from functools import partial

from multidict import CIMultiDict

from sluicegate.compat.base import broke_off
from sluicegate.compat.request_ids import carry_request_id
from sluicegate.errors import GatewayError
from sluicegate.exchange import Exchange, HubRequest, Reply
from sluicegate.ingress.base import IngressFormat, StreamRenderer
from sluicegate.pipeline import Handler
from sluicegate.pipeline.compat_answers import malformed
from sluicegate.pipeline.one_call import one_tool_call
from sluicegate.pipeline.response_items import Keeper, ResponseItems
from sluicegate.providers.base import JSON_TYPE, SSE_TYPE
from sluicegate.providers.openai import OPENAI


class Ingress:
    """`items`: where the output items of rendered answers are kept, the compat planner's store."""

    def __init__(self, items: ResponseItems) -> None:
        self._items = items

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        reply = await call_next(exchange)
        step = exchange.step
        if step is not None and step.one_tool_call:  # before rendering: the rendering is of the one call
            reply = one_tool_call(reply)
        ingress, hub = exchange.request.ingress, exchange.plan.hub
        if ingress is None:
            return reply
        if hub is None:
            # Passed through, or a route's target that renders its own answer (`Step.hub`,
            # pipeline/compat_route.py), whose items are kept here, as the client gets them: after
            # the guardrails (a redaction, the request's placeholders restored), whole or streamed.
            if step is not None and step.hub is not None and reply.status < 400:
                keeper = self._items.keeper(exchange.request, ingress, step.hub.asked)
                if keeper is not None and reply.stream is not None:
                    return replace(reply, stream=keeper.stream(reply.stream))
                if keeper is not None:
                    await keeper.answer(reply.body)
            return reply
        keeper = self._items.keeper(exchange.request, ingress, hub.asked) if reply.status < 400 else None
        if ingress.item_references is not None:
            # The rendering echoes the request; its `store` says what the gateway does: whether it
            # keeps the answer's output items (never the response itself).
            hub = replace(hub, asked={**hub.asked, "store": keeper is not None})
        rendered = render(ingress, hub, exchange.provider_slug, reply, keeper)
        if keeper is not None and rendered.stream is None:
            await keeper.answer(rendered.body)
        if rendered.reported_usage is not None:
            exchange.response.reported_usage.append(rendered.reported_usage)
        if rendered.unfinished is not None:
            exchange.response.unfinished.append(rendered.unfinished)
        return rendered


def render(
    ingress: IngressFormat, hub: HubRequest, provider: str, reply: Reply, keeper: Keeper | None = None
) -> Reply:
    """The chat `reply` in `ingress`'s shape. A chat answer the format cannot read is the
    provider's fault: `UpstreamMalformed` (502) naming it, or, in a stream, a broken-off body.
    `keeper` keeps the items of a stream before its closing events leave."""
    headers: CIMultiDict[str] = CIMultiDict(
        (k, v) for k, v in reply.headers.items() if k.lower() not in ("content-type", "content-length")
    )
    carry_request_id(headers, ingress.request_id_header)  # where the format's SDK reads it
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
    renderer = ingress.stream(hub.asked, reply.usage_ahead() if reply.usage_ahead is not None else None)
    stream = _rendered(renderer, provider, reply.stream, keeper)
    return Reply(
        reply.status, headers, stream=stream, reported_usage=renderer.usage, unfinished=renderer.unfinished
    )


async def _rendered(
    renderer: StreamRenderer, provider: str, stream: AsyncGenerator[bytes, None], keeper: Keeper | None
) -> AsyncGenerator[bytes, None]:
    async with aclosing(stream):
        try:
            async for chunk in stream:
                with malformed(provider):
                    out = renderer.feed(chunk)
                if out:
                    yield out
        except GatewayError as error:
            # The upstream broke off (or timed out, or sent what cannot be read) after the status
            # went out: the client's stream ends in its API's error event, as it does when the
            # provider's own error ends a stream, not in a broken connection.
            out = renderer.feed(broke_off(error.message))
            if out:
                yield out
    with malformed(provider):
        last = renderer.close()
    if keeper is not None:
        await keeper.closing(last)
    if last:
        yield last


async def _error_stream(
    ingress: IngressFormat, status: int, stream: AsyncGenerator[bytes, None]
) -> AsyncGenerator[bytes, None]:
    async with aclosing(stream):
        body = b"".join([chunk async for chunk in stream])
    yield ingress.error(status, body)
