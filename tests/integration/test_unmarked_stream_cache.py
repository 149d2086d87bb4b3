"""The exact cache stores a stream whose route's streams have no end line (Gemini's on Vertex AI and
on Google AI Studio, SSE or a JSON array; Hugging Face's text-generation-inference) when it ended as
its format ends a whole answer — each Gemini candidate came to its finishReason (an array to its
`]`), text-generation-inference's last event has the whole `generated_text` — and never one whose
upstream closed its body before that. Which routes have an end line is the adapters'
`StreamEnds.marks`: Vertex AI declares Claude's message_stop for its Claude models only, Hugging
Face `[DONE]` for its chat only; Vertex AI's OpenAI-compatible chat is whole at its `[DONE]`.

The tests of whole streams, and of a cut Gemini stream on Google AI Studio (which was stored and
served), fail on the code before this; the other cut ones are guards (it never stored them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import openai
import pytest
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.huggingface_server import FakeHuggingFace
from tests.fakes.openai_compatibility_server import FakeVertexOpenAI

ENDED_EARLY = {"x-fake-behavior": "end-mid-stream"}
QUESTION = "name the three largest cities of Italy in order"
MODEL_PATHS = {
    "google-ai-studio": "v1beta/models/gemini-2.5-flash",
    "google-vertex-ai": "v1/projects/acme/locations/us-central1/publishers/google/models/gemini-2.5-flash",
}
CREDENTIALS = {
    "google-ai-studio": {"x-goog-api-key": "gemini-key"},
    "google-vertex-ai": {"Authorization": "Bearer ya29.fake-access-token"},
}


@pytest.fixture
def hugging() -> Iterator[FakeHuggingFace]:
    with FakeHuggingFace().serve() as server:
        yield server


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], gemini: FakeGemini, hugging: FakeHuggingFace
) -> RunningGateway:
    gateway = make_gateway(
        upstreams={
            "google-ai-studio": gemini.base_url,
            "google-vertex-ai": gemini.base_url,
            "huggingface": hugging.base_url,
        }
    )
    gateway.configure(cache_enabled=True, semantic_cache_enabled=False)
    return gateway


def gemini_client(gateway: RunningGateway, provider: str) -> genai.Client:
    if provider == "google-ai-studio":
        return genai.Client(
            api_key="gemini-key", http_options=types.HttpOptions(base_url=gateway.provider_url(provider))
        )
    credentials = Credentials(token="ya29.fake-access-token")  # type: ignore[no-untyped-call]
    return genai.Client(
        vertexai=True,
        project="acme",
        location="us-central1",
        credentials=credentials,
        http_options=types.HttpOptions(base_url=gateway.provider_url(provider)),
    )


def gemini_twice(gateway: RunningGateway, provider: str, headers: dict[str, str]) -> list[str]:
    """The same `streamGenerateContent?alt=sse` request twice (the SDK's form); each answer's text."""
    config = types.GenerateContentConfig(http_options=types.HttpOptions(headers=headers))
    texts = []
    with gemini_client(gateway, provider) as client:
        for _ in range(2):
            chunks = client.models.generate_content_stream(
                model="gemini-2.5-flash", contents=QUESTION, config=config
            )
            texts.append("".join(chunk.text or "" for chunk in chunks))
    return texts


def gemini_array_twice(gateway: RunningGateway, provider: str, headers: dict[str, str]) -> list[bytes]:
    """The same `streamGenerateContent` request without `alt=sse` twice: a JSON array, streamed."""
    url = f"{gateway.provider_url(provider)}/{MODEL_PATHS[provider]}:streamGenerateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": QUESTION}]}]}
    with httpx.Client(timeout=10) as http:
        answers = [http.post(url, json=body, headers={**CREDENTIALS[provider], **headers}) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [200, 200]
    return [answer.content for answer in answers]


def tgi_twice(gateway: RunningGateway, headers: dict[str, str]) -> list[bytes]:
    """The same text-generation-inference stream request twice; each stream's bytes."""
    with httpx.Client(timeout=10) as http:
        answers = [
            http.post(
                f"{gateway.provider_url('huggingface')}/gpt2",
                json={"inputs": QUESTION, "stream": True, "parameters": {"details": True}},
                headers={"Authorization": "Bearer hf_test", **headers},
            )
            for _ in range(2)
        ]
    for answer in answers:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
    return [answer.content for answer in answers]


def statuses(gateway: RunningGateway) -> list[Any]:
    return [record["cache_status"] for record in reversed(gateway.wait_for_logs(2))]


@pytest.mark.parametrize("provider", ["google-vertex-ai", "google-ai-studio"])
def test_a_whole_gemini_stream_is_served_again(
    gateway: RunningGateway, gemini: FakeGemini, provider: str
) -> None:
    first, second = gemini_twice(gateway, provider, {})
    assert first == second == f"echo: {QUESTION}"
    assert len(gemini.requests) == 1
    assert statuses(gateway) == ["MISS", "HIT"]


@pytest.mark.parametrize("provider", ["google-vertex-ai", "google-ai-studio"])
def test_a_gemini_stream_cut_before_its_finish_reason_is_not_stored(
    gateway: RunningGateway, gemini: FakeGemini, provider: str
) -> None:
    first, second = gemini_twice(gateway, provider, ENDED_EARLY)
    assert first == second != f"echo: {QUESTION}"  # two chunks of the answer, no finishReason
    assert len(gemini.requests) == 2
    assert statuses(gateway) == ["MISS", "MISS"]


def test_a_whole_text_generation_stream_is_served_again(
    gateway: RunningGateway, hugging: FakeHuggingFace
) -> None:
    first, second = tgi_twice(gateway, {})
    assert first == second
    assert b'"generated_text":"echo:' in first
    assert len(hugging.requests) == 1
    assert statuses(gateway) == ["MISS", "HIT"]


def test_a_text_generation_stream_cut_before_its_last_event_is_not_stored(
    gateway: RunningGateway, hugging: FakeHuggingFace
) -> None:
    first, second = tgi_twice(gateway, ENDED_EARLY)
    assert first == second
    assert first.count(b"data:") == 2
    assert b'"generated_text":null' in first
    assert b'"generated_text":"' not in first
    assert len(hugging.requests) == 2
    assert statuses(gateway) == ["MISS", "MISS"]


@pytest.mark.parametrize("provider", ["google-vertex-ai", "google-ai-studio"])
def test_a_whole_gemini_array_stream_is_served_again(
    gateway: RunningGateway, gemini: FakeGemini, provider: str
) -> None:
    first, second = gemini_array_twice(gateway, provider, {})
    assert first.lstrip().startswith(b"[")
    assert second.rstrip().endswith(b"]")
    assert len(gemini.requests) == 1
    assert statuses(gateway) == ["MISS", "HIT"]


@pytest.mark.parametrize("provider", ["google-vertex-ai", "google-ai-studio"])
def test_a_gemini_array_stream_cut_before_its_end_is_not_stored(
    gateway: RunningGateway, gemini: FakeGemini, provider: str
) -> None:
    first, _ = gemini_array_twice(gateway, provider, ENDED_EARLY)
    assert first.lstrip().startswith(b"[")
    assert not first.rstrip().endswith(b"]")
    assert len(gemini.requests) == 2
    assert statuses(gateway) == ["MISS", "MISS"]


@pytest.fixture
def vertex_openai() -> Iterator[FakeVertexOpenAI]:
    with FakeVertexOpenAI().serve() as server:
        yield server


@pytest.mark.parametrize(("headers", "served"), [({}, ["MISS", "HIT"]), (ENDED_EARLY, ["MISS", "MISS"])])
def test_vertex_openai_chat_streams_are_stored_at_their_done(
    make_gateway: Callable[..., RunningGateway],
    vertex_openai: FakeVertexOpenAI,
    headers: dict[str, str],
    served: list[str],
) -> None:
    gateway = make_gateway(upstreams={"google-vertex-ai": vertex_openai.base_url})
    gateway.configure(cache_enabled=True, semantic_cache_enabled=False)
    endpoint = "v1/projects/acme/locations/us-central1/endpoints/openapi"
    with openai.OpenAI(
        base_url=f"{gateway.provider_url('google-vertex-ai')}/{endpoint}", api_key="ya29.token", max_retries=0
    ) as client:
        for _ in range(2):
            with client.chat.completions.create(
                model="google/gemini-2.0-flash-001",
                messages=[{"role": "user", "content": QUESTION}],
                stream=True,
                extra_headers=headers,
            ) as stream:
                # Read to the end: a client that leaves after the first piece may leave before
                # the gateway has read the end, and a stream never seen to its end is not stored.
                pieces = [choice.delta.content for chunk in stream for choice in chunk.choices]
                assert any(pieces)
    assert len(vertex_openai.requests) == served.count("MISS")
    assert statuses(gateway) == served
