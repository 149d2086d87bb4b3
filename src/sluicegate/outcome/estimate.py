"""Estimating a request's usage and cost before it is sent, for token and cost reservations.

Prompt tokens are counted with the tokenizer; the answer is taken at the size the request caps it
at, as its provider reads the cap (`Provider.output_cap`: OpenAI's `max_tokens` times `n` choices,
Gemini's `generationConfig.maxOutputTokens` times its candidates, 0 for embeddings, which generate
nothing), else at the rule's `reserve`. Small bodies are counted on the event loop (a 2 KB prompt
takes about 40 µs; reading the cap, well under 1 µs); larger ones, and the first count or price
lookup (which load data files), on a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import NamedTuple

from sluicegate.exchange import Step
from sluicegate.gateway import FallbackPrice
from sluicegate.outcome.pricing import Pricing, unpriced
from sluicegate.types import Usage
from sluicegate.usage.custom_cost import CustomCost
from sluicegate.usage.rates import Pricer
from sluicegate.usage.tokens import TokenCounter

LOOP_PROMPT_BYTES = 2048


class StepEstimate(NamedTuple):
    """One step's expected usage: its prompt, the cap on its answer if it sets one (0: it has no
    answer to count, as embeddings), its price.
    (A named tuple: made per request, and a frozen dataclass's `__init__` costs four times as much.)"""

    prompt_tokens: int
    output_cap: int | None
    price: Pricer | None
    unpriced: bool
    searches: int = 0  # web searches the provider's own tool may run, billed apart (`RequestFacts`)

    def tokens(self, default_output: int) -> int:
        """`usage(default_output).total_tokens`, without building the usage (this runs per request)."""
        return self.prompt_tokens + (self.output_cap if self.output_cap is not None else default_output)

    def usage(self, default_output: int) -> Usage:
        output = self.output_cap if self.output_cap is not None else default_output
        return Usage(
            input_tokens=self.prompt_tokens, output_tokens=output, web_searches=self.searches, estimated=True
        )

    def cost(self, default_output: int) -> float:
        return self.price.cost(self.usage(default_output)) if self.price is not None else 0.0


class Estimator:
    def __init__(self, tokens: TokenCounter, pricing: Pricing, loop_bytes: int = LOOP_PROMPT_BYTES) -> None:
        self._tokens = tokens
        self._pricing = pricing
        self._loop_bytes = loop_bytes

    async def estimate(
        self,
        steps: Sequence[Step],
        method: str,
        price: bool,
        custom_cost: CustomCost | None,
        fallback: FallbackPrice | None,
    ) -> list[StepEstimate]:
        """Each step's estimate; prices (what a cost rule charges a request sent with `method`:
        see `Pricing.price`) only when a cost rule needs them (`price`)."""
        if all(self._cheap(step, price, custom_cost) for step in steps):
            return self._estimate(steps, method, price, custom_cost, fallback)
        return await asyncio.to_thread(self._estimate, steps, method, price, custom_cost, fallback)

    def _cheap(self, step: Step, price: bool, custom_cost: CustomCost | None) -> bool:
        return (
            len(step.body) <= self._loop_bytes
            and self._tokens.loaded(step.facts.model)
            and (not price or self._pricing.ready(step, custom_cost))
        )

    def _estimate(
        self,
        steps: Sequence[Step],
        method: str,
        price: bool,
        custom_cost: CustomCost | None,
        fallback: FallbackPrice | None,
    ) -> list[StepEstimate]:
        estimates = []
        for step in steps:
            payload = step.facts.payload
            prompt = self._tokens.count_request_input(step.facts) if payload is not None else 0
            cap = step.provider.output_cap(step.route, payload)
            own = step.options.custom_cost if step.options is not None else None  # a universal step's
            # What the request says it is billed in, unless a GPT Image answer reports tokens instead.
            billed = step.facts.billed if step.facts.billed and not step.facts.billed.images else None
            rate = self._pricing.price(step, own or custom_cost, fallback, usage=billed) if price else None
            searches = step.facts.searches
            estimates.append(
                StepEstimate(prompt, cap, rate, price and unpriced(method, step, rate), searches)
            )
        return estimates
