"""Vertex AI's text embeddings by `:predict`, driven by google-genai's `embed_content(vertexai=True)`
against the fake Gemini upstream on loopback: their usage is the answer's token counts, priced by
the model, and an answer is reused as embedContent's is."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from google import genai

from sluicegate.providers.base import Route
from sluicegate.providers.google_vertex_ai import GOOGLE_VERTEX_AI
from tests.conftest import RunningGateway
from tests.fakes.vertex_predict import NO_STATISTICS_HEADER, FakeVertexPredict, predict_tokens
from tests.integration.test_google import ACCESS_TOKEN
from tests.integration.test_google import vertex as vertex_client

TEXTS = ["the capital of France is Paris", "an embedding of two sentences"]
# AI Studio's price of gemini-embedding-001 (genai-prices), per token.
GEMINI_EMBEDDING_PRICE = 0.15 / 1_000_000


@pytest.fixture
def fake() -> Iterator[FakeVertexPredict]:
    with FakeVertexPredict(access_token=ACCESS_TOKEN).serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeVertexPredict) -> RunningGateway:
    return make_gateway(upstreams={"google-vertex-ai": fake.base_url})


def vertex(gateway: RunningGateway, headers: dict[str, str] | None = None) -> genai.Client:
    return vertex_client(gateway.provider_url("google-vertex-ai"), headers)


def test_predict_embeddings_are_counted_from_the_answer_and_priced_by_the_model(
    gateway: RunningGateway, fake: FakeVertexPredict
) -> None:
    with vertex(gateway) as client:
        answer = client.models.embed_content(model="gemini-embedding-001", contents=TEXTS)
    assert answer.embeddings is not None
    assert len(answer.embeddings) == 2
    assert fake.requests[-1].path.endswith("/models/gemini-embedding-001:predict")
    record = gateway.wait_for_logs(1)[0]
    tokens = sum(predict_tokens(text) for text in TEXTS)
    assert (record["tokens_in"], record["tokens_out"], record["usage_estimated"]) == (tokens, 0, False)
    assert record["unpriced"] is False
    assert record["cost_usd"] == pytest.approx(tokens * GEMINI_EMBEDDING_PRICE)


def test_predict_embeddings_of_a_model_without_a_price_are_unpriced(gateway: RunningGateway) -> None:
    # Vertex AI bills text-embedding-005 by characters; genai-prices has no price for it.
    with vertex(gateway) as client:
        client.models.embed_content(model="text-embedding-005", contents=TEXTS)
    record = gateway.wait_for_logs(1)[0]
    assert record["tokens_in"] == sum(predict_tokens(text) for text in TEXTS)
    assert record["unpriced"] is True
    assert not record["cost_usd"]


def test_predict_embeddings_without_statistics_estimate_the_instances(gateway: RunningGateway) -> None:
    with vertex(gateway, {NO_STATISTICS_HEADER: "no-statistics"}) as client:
        client.models.embed_content(model="gemini-embedding-001", contents=TEXTS)
    record = gateway.wait_for_logs(1)[0]
    assert record["usage_estimated"] is True
    # o200k_base: six and five tokens (the fake would have said seven and six).
    assert 11 <= record["tokens_in"] <= 12, record["tokens_in"]
    assert record["cost_usd"] == pytest.approx(record["tokens_in"] * GEMINI_EMBEDDING_PRICE)


def test_predict_embeddings_are_cached_as_embed_content_is(
    gateway: RunningGateway, fake: FakeVertexPredict
) -> None:
    with vertex(gateway, {"cf-aig-cache-ttl": "60"}) as client:
        first = client.models.embed_content(model="gemini-embedding-001", contents=TEXTS)
        second = client.models.embed_content(model="gemini-embedding-001", contents=TEXTS)
    assert first.embeddings == second.embeddings
    assert len(fake.requests) == 1
    statuses = sorted(record["cache_status"] for record in gateway.wait_for_logs(2))
    assert statuses == ["HIT", "MISS"]


def test_predict_embeddings_instances_are_read_as_documents() -> None:
    route = Route("local", "v1/projects/p/locations/l/publishers/google/models/text-embedding-005:predict")
    body = {"instances": [{"content": "first text", "title": "a title"}, {"content": "second"}]}
    texts_format = GOOGLE_VERTEX_AI.text_format(route, body)
    assert texts_format is not None
    texts = [(text.value, text.role) for text in texts_format.request_texts(body)]
    assert texts == [("a title", "document"), ("first text", "document"), ("second", "document")]
    assert GOOGLE_VERTEX_AI.operation(route) == "embeddings"
    assert GOOGLE_VERTEX_AI.output_cap(route, body) == 0
