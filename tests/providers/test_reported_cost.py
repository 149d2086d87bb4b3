"""The charge an OpenAI-style answer states (`usage.cost`), read by the adapters that read its usage:
OpenRouter's number (with BYOK, its fee plus what the client's own key was billed), Perplexity's
cost object; anything that is not a finite amount >= 0 states nothing, and the table prices it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from sluicegate.providers import REGISTRY
from sluicegate.providers.base import Route
from sluicegate.providers.reported_cost import reported_cost

TOKENS = {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}
ROUTE = Route("local", "chat/completions")


def routed(cost: Any, upstream: Any, byok: bool = False) -> dict[str, Any]:
    """OpenRouter's cost fields: `cost`, `is_byok`, `cost_details.upstream_inference_cost`."""
    return {"cost": cost, "is_byok": byok, "cost_details": {"upstream_inference_cost": upstream}}


PERPLEXITY = {"input_tokens_cost": 2.4e-05, "output_tokens_cost": 0.006585, "request_cost": 0.006}


@pytest.mark.parametrize(
    ("usage", "charge"),
    [
        (routed(0.00030078, 0.00030078), 0.00030078),
        (routed(0.0540125, 0.0470125), 0.0540125),  # a web search plugin's fee is in `cost` only
        (routed(0, 0.0001601, byok=True), 0.0001601),
        (routed(0.00001, 0.0002, byok=True), 0.00021),  # OpenRouter's fee and the provider's bill
        ({"cost": 0.001}, 0.001),  # before OpenRouter added is_byok
        ({"cost": {**PERPLEXITY, "total_cost": 0.012609}}, 0.012609),
        (routed(0, None, byok=True), None),  # the provider's bill not stated: no whole charge
        ({"cost": 0, "is_byok": True}, None),
        ({"cost": PERPLEXITY}, None),  # no total stated
        ({"cost": -1}, None),
        ({"cost": True}, None),
        ({"cost": "0.01"}, None),
        ({"cost": float("inf")}, None),
        ({}, None),
    ],
)
def test_the_charge_stated(usage: dict[str, Any], charge: float | None) -> None:
    assert reported_cost(usage) == (None if charge is None else pytest.approx(charge))


@pytest.mark.parametrize("name", ["openrouter", "perplexity-ai", "openai", "groq", "deepseek", "mistral"])
def test_every_openai_compatible_adapter_reads_it_whole_and_streamed(name: str) -> None:
    provider = REGISTRY[name]
    usage = {**TOKENS, "cost": 0.0021, "is_byok": False}
    whole = orjson.dumps({"object": "chat.completion", "choices": [], "usage": usage})
    chunk = orjson.dumps({"object": "chat.completion.chunk", "choices": [], "usage": usage})
    stream = b"data: " + chunk + b"\n\ndata: [DONE]\n\n"
    read = provider.read_usage(ROUTE, whole)
    streamed = provider.read_stream_usage(ROUTE, stream)
    assert read is not None
    assert streamed is not None
    assert (read.input_tokens, read.output_tokens, read.cost_usd) == (12, 6, 0.0021)
    assert streamed == read


def test_an_answer_that_states_none_has_none() -> None:
    read = REGISTRY["openai"].read_usage(ROUTE, orjson.dumps({"choices": [], "usage": TOKENS}))
    assert read is not None
    assert read.cost_usd is None
