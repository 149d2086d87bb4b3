"""An exact-cache hit on a chat completion stored without usage is counted (tokenised, on a worker
thread) only when its client reads usage: a whole answer, a stream asking include_usage, a Messages
or Responses client (whose chat request asks it). A chat stream that did not ask (the SDKs'
default) is served the entry as stored, with no usage chunk, and nothing is counted for it."""

from __future__ import annotations

import orjson
from multidict import CIMultiDict

from sluicegate.exchange import Exchange, RequestPlan, Step
from sluicegate.gateway import GatewaySettings
from sluicegate.pipeline.cache import ResponseCache, cache_decision
from sluicegate.pipeline.hit_usage import asks_usage
from sluicegate.providers.base import RequestFacts, Route
from sluicegate.providers.openai import OPENAI
from sluicegate.storage.cache import CacheEntry, MemoryCache
from sluicegate.usage.tokens import TokenCounter
from tests.pipeline.stage_parts import ACCOUNT, Downstream, make_exchange, make_gateway

ROUTE = Route(ACCOUNT, "chat/completions")
CACHING = make_gateway(GatewaySettings(cache_enabled=True, cache_ttl=300))
MESSAGES = [{"role": "user", "content": "name three rivers of Europe please"}]
HEAD = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
# OpenAI's own stream as stored without include_usage: no usage chunk, no `usage` field.
STORED = (
    b"".join(
        b"data: "
        + orjson.dumps(HEAD | {"choices": [{"index": 0, "delta": delta, "finish_reason": end}]})
        + b"\n\n"
        for delta, end in (
            ({"role": "assistant", "content": "Rhine, "}, None),
            ({"content": "Danube"}, "stop"),
        )
    )
    + b"data: [DONE]\n\n"
)


def _exchange(**asks: object) -> Exchange:
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": MESSAGES, **asks})
    exchange = make_exchange(body=body, headers={"cf-aig-cache-key": "rivers"}, gateway=CACHING)
    exchange.plan = RequestPlan(
        body, [Step(OPENAI, ROUTE, CIMultiDict(), body, OPENAI.read_request(ROUTE, body))]
    )
    return exchange


async def _hit(**asks: object) -> tuple[Exchange, bytes]:
    """The exchange and the answer's bytes of a request that finds STORED."""
    cache = MemoryCache(1 << 20)
    exchange = _exchange(**asks)
    decision = cache_decision(exchange.request, CACHING, exchange.plan)
    assert decision is not None
    entry = CacheEntry(200, (("Content-Type", "text/event-stream"),), STORED, True, 5.0, 0.0, 1e12)
    await cache.put(decision.key, entry)
    downstream = Downstream()
    stage = ResponseCache(cache, 1 << 20, 1.0, clock=lambda: 1.0, counter=TokenCounter())
    reply = await stage(exchange, downstream)
    assert downstream.seen == []  # a hit
    body = reply.body if reply.stream is None else b"".join([chunk async for chunk in reply.stream])
    return exchange, body


async def test_a_stream_that_does_not_ask_for_usage_is_not_counted() -> None:
    exchange, body = await _hit(stream=True)
    assert exchange.cache.usage_counted is False
    assert body == STORED


async def test_a_stream_asking_include_usage_and_a_whole_request_are_counted() -> None:
    exchange, body = await _hit(stream=True, stream_options={"include_usage": True})
    assert exchange.cache.usage_counted is True
    usage = orjson.loads(body.split(b"data: ")[-2])["usage"]
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] > 0
    exchange, body = await _hit()
    assert exchange.cache.usage_counted is True
    assert orjson.loads(body)["usage"]["completion_tokens"] > 0


def test_which_requests_read_usage() -> None:
    def facts(**asks: object) -> RequestFacts:
        return OPENAI.read_request(ROUTE, orjson.dumps({"model": "gpt-4o-mini", **asks}))

    assert asks_usage(facts()) is True
    assert asks_usage(facts(stream=False)) is True
    assert asks_usage(facts(stream=True)) is False
    assert asks_usage(facts(stream=True, stream_options={"include_usage": False})) is False
    assert asks_usage(facts(stream=True, stream_options={"include_usage": True})) is True
