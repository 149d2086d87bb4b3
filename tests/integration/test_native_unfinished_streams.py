"""A stream relayed as its provider sent it (a provider endpoint, no translation) whose upstream
closed its body cleanly before the end line its provider's streams end with (Anthropic's
message_stop, OpenAI's `[DONE]` or response.completed): logged as broken off, billed for the text
written (counted, so estimated), never stored in the exact cache, as the compat endpoint's
translations are (test_compat_unfinished_streams.py).

Where a route's streams have no end line (Gemini's end with their body, on Google AI Studio and on
Vertex AI, whose Claude streams do have one; Hugging Face's text-generation-inference beside its
chat), a whole stream is not taken for a broken one."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anthropic
import httpx2 as httpx
import openai
import pytest
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.huggingface_server import FakeHuggingFace
from tests.fakes.openai_server import FakeOpenAI

ENDED_EARLY = {"x-fake-behavior": "end-mid-stream"}
QUESTION = "name the three largest cities of France in order"


@pytest.fixture
def hugging() -> Iterator[FakeHuggingFace]:
    with FakeHuggingFace().serve() as server:
        yield server


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway],
    fake: FakeOpenAI,
    claude: FakeAnthropic,
    gemini: FakeGemini,
    hugging: FakeHuggingFace,
) -> RunningGateway:
    gateway = make_gateway(
        upstreams={
            "openai": fake.base_url,
            "anthropic": claude.base_url,
            "google-ai-studio": gemini.base_url,
            "google-vertex-ai": gemini.base_url,
            "huggingface": hugging.base_url,
        }
    )
    gateway.configure(cache_enabled=True, semantic_cache_enabled=False)
    return gateway


def assert_logged_as_ended_early(gateway: RunningGateway, missing: str) -> None:
    """Both tries went upstream (no HIT), and each record says the stream broke off and bills the
    text written, counted (more than the one output token Anthropic's message_start announces)."""
    records = gateway.wait_for_logs(2)
    assert [r["cache_status"] for r in records] == ["MISS", "MISS"]
    for record in records:
        assert (record["status"], record["stream"]) == (200, True)
        assert record["error"] == f"the upstream stream ended before it finished ({missing} never came)"
        assert record["tokens_in"] > 0
        assert record["tokens_out"] > 1, record
        assert record["usage_estimated"] is True


def test_an_anthropic_stream_without_message_stop(gateway: RunningGateway, claude: FakeAnthropic) -> None:
    with anthropic.Anthropic(
        base_url=gateway.provider_url("anthropic"), api_key="sk-ant-test", max_retries=0
    ) as client:
        for _ in range(2):
            with client.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=200,
                messages=[{"role": "user", "content": QUESTION}],
                stream=True,
                extra_headers=ENDED_EARLY,
            ) as stream:
                events = [event.type for event in stream]
            assert "content_block_delta" in events
            assert "message_stop" not in events
    assert sum(r.path == "/v1/messages" for r in claude.requests) == 2  # never replayed from the cache
    assert_logged_as_ended_early(gateway, "message_stop")


def test_an_openai_chat_stream_without_done(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
        for _ in range(2):
            with client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": QUESTION}],
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=ENDED_EARLY,
            ) as stream:
                chunks = list(stream)
            assert any(choice.delta.content for chunk in chunks for choice in chunk.choices)
            assert all(choice.finish_reason is None for chunk in chunks for choice in chunk.choices)
    assert sum(r.path == "/v1/chat/completions" for r in fake.requests) == 2
    assert_logged_as_ended_early(gateway, "[DONE]")


def test_an_openai_responses_stream_without_its_closing_event(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
        for _ in range(2):
            with client.responses.create(
                model="gpt-4o-mini", input=QUESTION, stream=True, extra_headers=ENDED_EARLY
            ) as stream:
                seen = [event.type for event in stream]
            assert "response.output_text.delta" in seen
            assert "response.completed" not in seen
    assert sum(r.path == "/v1/responses" for r in fake.requests) == 2
    assert_logged_as_ended_early(gateway, "response.completed")


def test_whole_streams_without_an_end_line_are_not_taken_for_broken_ones(
    gateway: RunningGateway, gemini: FakeGemini, hugging: FakeHuggingFace
) -> None:
    # Gemini's streams end with their body: on Google AI Studio, and on Vertex AI, whose adapter
    # declares Claude's end line for the Claude models it serves.
    with genai.Client(
        api_key="gemini-key",
        http_options=types.HttpOptions(base_url=gateway.provider_url("google-ai-studio")),
    ) as client:
        studio = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents=QUESTION))
    credentials = Credentials(token="ya29.fake-access-token")  # type: ignore[no-untyped-call]
    with genai.Client(
        vertexai=True,
        project="acme",
        location="us-central1",
        credentials=credentials,
        http_options=types.HttpOptions(base_url=gateway.provider_url("google-vertex-ai")),
    ) as client:
        vertex = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents=QUESTION))
    for chunks in (studio, vertex):
        assert "".join(chunk.text or "" for chunk in chunks) == f"echo: {QUESTION}"
    # Text generation inference's on Hugging Face, whose chat streams end with `[DONE]`.
    with httpx.Client(timeout=10) as http:
        tgi = http.post(
            f"{gateway.provider_url('huggingface')}/gpt2",
            json={"inputs": QUESTION, "stream": True},
            headers={"Authorization": "Bearer hf_test"},
        )
    assert tgi.headers["content-type"].startswith("text/event-stream")
    assert b"generated_text" in tgi.content
    records = gateway.wait_for_logs(3)
    assert {r["provider"] for r in records} == {"google-ai-studio", "google-vertex-ai", "huggingface"}
    for record in records:
        assert (record["status"], record["stream"], record["error"]) == (200, True, None), record
