"""The outcome step: one measurement per request, handed to every sink, settled before the answer ends."""

from __future__ import annotations

import asyncio
from typing import cast

import orjson
import pytest
from multidict import CIMultiDict

from sluicegate.exchange import Exchange, Step
from sluicegate.outcome import Outcome
from sluicegate.outcome.estimate import Estimator
from sluicegate.outcome.meter import Meter
from sluicegate.outcome.outcomes import Outcomes
from sluicegate.outcome.pricing import Pricing
from sluicegate.providers.base import Provider, Route
from sluicegate.providers.google_ai_studio import GOOGLE_AI_STUDIO
from sluicegate.providers.openai import OPENAI
from sluicegate.storage.limiter import Bucket, Hold
from sluicegate.types import Usage
from sluicegate.usage.cost import PriceTable
from sluicegate.usage.tokens import TokenCounter
from tests.pipeline.test_log import exchange

HOLD = Hold(Bucket("b", 100, 60, False, "tokens"), 10, 0.0, "")


def meter() -> Meter:
    return Meter(TokenCounter(), Pricing(PriceTable()))


async def test_a_failing_sink_does_not_starve_the_others(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    async def broken(ex: Exchange, outcome: Outcome) -> None:
        raise RuntimeError("sink bug")

    async def counting(ex: Exchange, outcome: Outcome) -> None:
        seen.append(ex.request.id)

    done = exchange()
    await Outcomes(meter(), [broken, counting]).complete(done)
    assert seen == [done.request.id]
    assert "an outcome sink failed" in caplog.text


async def test_settlement_holds_the_answer_and_a_cancelled_caller_stops_no_sink() -> None:
    entered, proceed, done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    settled: list[str] = []
    logged: list[str] = []

    async def round_trip(ex: Exchange) -> None:
        entered.set()
        await proceed.wait()
        settled.append(ex.request.id)
        done.set()

    async def settle(ex: Exchange, outcome: Outcome) -> None:
        await asyncio.shield(round_trip(ex))  # as the Redis limiter shields its script

    async def log(ex: Exchange, outcome: Outcome) -> None:
        logged.append(ex.request.id)

    held = exchange()
    held.limits.holds = (HOLD,)
    caller = asyncio.create_task(Outcomes(meter(), [settle, log]).complete(held))
    await entered.wait()
    assert not caller.done()  # the answer waits for its reservations to settle
    caller.cancel()  # the client hangs up meanwhile
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert logged == [held.request.id]  # the record is not lost with the caller
    proceed.set()
    await asyncio.wait_for(done.wait(), 5)  # and the shielded round trip completes
    assert settled == [held.request.id]


def step(provider: Provider, path: str, body: dict[str, object]) -> Step:
    route, raw = Route("local", path), orjson.dumps(body)
    return Step(provider, route, CIMultiDict(), raw, provider.read_request(route, raw))


async def test_an_estimate_takes_the_answer_at_the_cap_its_provider_reads() -> None:
    contents = [{"role": "user", "parts": [{"text": "hello world"}]}]
    steps = [
        step(OPENAI, "chat/completions", {"model": "gpt-4o-mini", "messages": [], "max_tokens": 7, "n": 2}),
        step(GOOGLE_AI_STUDIO, "v1beta/models/gemini-2.0-flash:generateContent", {"contents": contents}),
        step(
            GOOGLE_AI_STUDIO,
            "v1beta/models/gemini-2.0-flash:generateContent",
            {"contents": contents, "generationConfig": {"maxOutputTokens": 5}},
        ),
        step(OPENAI, "embeddings", {"model": "text-embedding-3-small", "input": "hello world"}),
    ]
    estimates = await Estimator(TokenCounter(), Pricing(PriceTable())).estimate(
        steps, "POST", False, None, None
    )
    assert [estimate.output_cap for estimate in estimates] == [14, None, 5, 0]
    uncapped, capped, embedding = estimates[1:]
    assert uncapped.tokens(1024) == uncapped.prompt_tokens + 1024  # the rule's `reserve` stands in
    assert capped.tokens(1024) == capped.prompt_tokens + 5
    assert embedding.tokens(1024) == embedding.prompt_tokens > 0  # no answer to reserve for


class OutputOnly:
    """OpenAI's adapter, but its answers report the output's tokens only (`Usage.input_unreported`),
    as a Hugging Face text generation's `details` without `prefill` do."""

    def __getattr__(self, name: str) -> object:
        return getattr(OPENAI, name)

    def read_usage(self, route: Route, body: bytes) -> Usage | None:
        return Usage(output_tokens=4, input_unreported=True)


def test_an_answer_that_reports_its_output_only_has_its_input_counted() -> None:
    asked = {"model": "gpt-4o-mini", "prompt": "one two three four five six"}
    answered = exchange()
    answered.plan.steps = [step(cast(Provider, OutputOnly()), "completions", asked)]
    answered.response.status, answered.response.body = 200, b'{"choices": [{"text": "done"}]}'
    assert meter().quick(answered) is None  # counting is the worker thread's
    usage = meter().measure(answered).usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (6, 4)  # the input counted, the output as reported
    assert (usage.estimated, usage.input_unreported) == (True, False)


def test_tokens_of_no_model_are_unpriced_not_free() -> None:
    # An OpenAI-compatible server that runs a request naming no model (llama.cpp's default one)
    # reports tokens nothing can price: their cost is unknown, not 0.
    answered = exchange()
    answered.plan.steps = [
        step(OPENAI, "chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
    ]
    answered.response.status = 200
    answered.response.body = b'{"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3}}'
    outcome = meter().measure(answered)
    assert outcome.usage is not None
    assert (outcome.usage.input_tokens, outcome.usage.output_tokens) == (9, 3)
    assert (outcome.cost_usd, outcome.unpriced) == (None, True)
    answered.response.body = b'{"choices": [], "usage": {"prompt_tokens": 0, "completion_tokens": 0}}'
    assert meter().measure(answered).unpriced is False  # no tokens: nothing to price
