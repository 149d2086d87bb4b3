"""Native providers' OpenAI-compatible APIs through the gateway, with the openai SDK: Cohere's
Compatibility API (`…/cohere/compatibility/v1/…`) and Vertex AI's OpenAI-compatible endpoint
(`…/google-vertex-ai/v1/projects/{p}/locations/{l}/endpoints/openapi/chat/completions`) answer in
OpenAI's shapes, so their records carry the body's model and the answer's usage (its stream's usage
chunk too) and are priced, not estimated from the text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openai import OpenAI

from sluicegate.types import Usage
from sluicegate.usage.cost import PriceTable
from tests.conftest import RunningGateway
from tests.fakes.openai_compatibility_server import FakeCohereCompatibility, FakeVertexOpenAI

MESSAGES: list[Any] = [{"role": "user", "content": "Who is the best French painter?"}]
COHERE_MODEL = "command-a-03-2025"
VERTEX_MODEL = "google/gemini-2.0-flash-001"
VERTEX_PATH = "v1/projects/my-proj/locations/us-central1/endpoints/openapi"
PRICES = PriceTable()


def priced(provider: str, model: str, prompt: int, completion: int) -> Any:
    """What the price table charges for these tokens (not None: both models are in it)."""
    cost = PRICES.cost(provider, model, Usage(input_tokens=prompt, output_tokens=completion))
    assert cost is not None
    assert cost > 0
    return pytest.approx(cost)


@pytest.fixture
def cohere() -> Iterator[FakeCohereCompatibility]:
    with FakeCohereCompatibility().serve() as server:
        yield server


@pytest.fixture
def vertex() -> Iterator[FakeVertexOpenAI]:
    with FakeVertexOpenAI().serve() as server:
        yield server


def test_cohere_compatibility_chat_and_embeddings_are_logged_with_their_usage(
    make_gateway: Callable[..., RunningGateway], cohere: FakeCohereCompatibility
) -> None:
    gateway = make_gateway(upstreams={"cohere": cohere.base_url})
    with OpenAI(base_url=f"{gateway.provider_url('cohere')}/compatibility/v1", api_key="co-test") as client:
        answer = client.chat.completions.create(model=COHERE_MODEL, messages=MESSAGES)
        assert cohere.requests[-1].path == "/compatibility/v1/chat/completions"
        embedded = client.embeddings.create(model="embed-v4.0", input=["one text", "and another"])
        assert cohere.requests[-1].path == "/compatibility/v1/embeddings"
        assert answer.usage is not None
        records = {r["endpoint"]: r for r in gateway.wait_for_logs(2)}
        chat = records["compatibility/v1/chat/completions"]
        assert chat["model"] == COHERE_MODEL
        assert (chat["tokens_in"], chat["tokens_out"]) == (
            answer.usage.prompt_tokens,
            answer.usage.completion_tokens,
        )
        assert chat["usage_estimated"] is False
        assert chat["cost_usd"] == priced("cohere", COHERE_MODEL, *(chat["tokens_in"], chat["tokens_out"]))
        embeddings = records["compatibility/v1/embeddings"]
        assert (embeddings["model"], embeddings["tokens_in"]) == ("embed-v4.0", embedded.usage.prompt_tokens)
        assert embeddings["usage_estimated"] is False


def test_cohere_compatibility_chat_is_cached(
    make_gateway: Callable[..., RunningGateway], cohere: FakeCohereCompatibility
) -> None:
    gateway = make_gateway(upstreams={"cohere": cohere.base_url})
    gateway.configure(cache_enabled=True)
    with OpenAI(base_url=f"{gateway.provider_url('cohere')}/compatibility/v1", api_key="co-test") as client:
        first = client.chat.completions.with_raw_response.create(model=COHERE_MODEL, messages=MESSAGES)
        second = client.chat.completions.with_raw_response.create(model=COHERE_MODEL, messages=MESSAGES)
        assert (first.headers["cf-aig-cache-status"], second.headers["cf-aig-cache-status"]) == (
            "MISS",
            "HIT",
        )
        assert len(cohere.requests) == 1


def test_vertex_openai_endpoint_is_logged_with_its_model_usage_and_cost(
    make_gateway: Callable[..., RunningGateway], vertex: FakeVertexOpenAI
) -> None:
    gateway = make_gateway(upstreams={"google-vertex-ai": vertex.base_url})
    with OpenAI(
        base_url=f"{gateway.provider_url('google-vertex-ai')}/{VERTEX_PATH}", api_key="ya29.token"
    ) as client:
        answer = client.chat.completions.create(model=VERTEX_MODEL, messages=MESSAGES)
        chunks = list(
            client.chat.completions.create(
                model=VERTEX_MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
        )
        assert vertex.requests[-1].path == f"/{VERTEX_PATH}/chat/completions"
        streamed = chunks[-1].usage
        assert answer.usage is not None
        assert streamed is not None
        records = {r["stream"]: r for r in gateway.wait_for_logs(2)}
        for stream, usage in ((False, answer.usage), (True, streamed)):
            record = records[stream]
            assert record["model"] == VERTEX_MODEL
            assert (record["tokens_in"], record["tokens_out"]) == (
                usage.prompt_tokens,
                usage.completion_tokens,
            )
            assert record["usage_estimated"] is False
            assert record["cost_usd"] == priced(
                "google-vertex-ai", VERTEX_MODEL, *(record["tokens_in"], record["tokens_out"])
            )
