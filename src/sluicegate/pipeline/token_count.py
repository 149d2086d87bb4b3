"""TokenCount: a token-counting request on the compat endpoint, answered by the gateway.

Anthropic's `count_tokens` for a model of another provider has nowhere to go: no provider counts
the chat request the gateway would send. The gateway counts it with its tokenizer (exact for
OpenAI's models, an estimate for others: usage/tokens.py) and answers at once, as a cache hit
would; nothing goes upstream and nothing is billed. Its usage is what it counted, as input tokens
(`Reply.reported_usage`, estimated: no provider reported it); the log names the endpoint the client
called, not the chat one nothing was sent to. A request passed through to Anthropic is counted by
Anthropic.
"""

from __future__ import annotations

import asyncio

import orjson
from multidict import CIMultiDict

from sluicegate.exchange import Exchange, Reply
from sluicegate.pipeline import Handler
from sluicegate.providers.base import JSON_TYPE
from sluicegate.types import Usage
from sluicegate.usage.tokens import TokenCounter


class TokenCount:
    def __init__(self, counter: TokenCounter) -> None:
        self._counter = counter

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        ingress, hub, step = exchange.request.ingress, exchange.plan.hub, exchange.step
        if not exchange.counted_by_gateway or ingress is None or hub is None or step is None:
            return await call_next(exchange)
        chat = orjson.loads(hub.body)
        # Tokenizing is CPU work that grows with the body: off the event loop. The tools' definitions
        # are counted too (their JSON), as the model reads them.
        tokens = await asyncio.to_thread(self._counter.count_any_input, chat, step.facts.model)
        headers: CIMultiDict[str] = CIMultiDict({"Content-Type": JSON_TYPE})
        counted = Usage(input_tokens=tokens, estimated=True)
        return Reply(200, headers, body=ingress.count_answer(tokens), reported_usage=lambda: counted)
