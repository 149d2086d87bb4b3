"""A translated stream whose upstream stopped early, closing its body cleanly but without its
closing events (Anthropic's message_stop, Gemini's finishReason, chat's and Workers AI's `[DONE]`):
never stored in a cache, never shown to the client as a whole answer, logged and billed as what it
was.

Each client API ends it the way its own provider shows a failed stream: a Messages client gets
Anthropic's `error` event, a Responses client `response.failed`, a chat client OpenAI's in-stream
error, `data: {"error": …}`, without a finish_reason or `[DONE]` (the openai SDK raises at either)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx2 as httpx
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.workers_ai_server import FakeWorkersAI

ENDED_EARLY = {"x-fake-behavior": "end-mid-stream"}
SAID = "the upstream stream ended before it finished"
# What a translation says never came (an OpenAI chat stream passed to an ingress client says nothing).
MISSING = {"anthropic": "message_stop", "google-ai-studio": "finishReason", "workers-ai": "[DONE]"}
QUESTION = "name the three largest cities of France in order"
UPSTREAM_PATHS = {
    "openai": "chat/completions",
    "anthropic": "messages",
    "google-ai-studio": "streamGenerateContent",
    "workers-ai": "/ai/run/",
}
MODELS = {
    "openai": "openai/gpt-4o-mini",
    "anthropic": "anthropic/claude-sonnet-4-6",
    "google-ai-studio": "google-ai-studio/gemini-2.5-flash",
    "workers-ai": "workers-ai/@cf/meta/llama-3.1-8b-instruct",
}


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with (
        FakeOpenAI().serve() as oa,
        FakeAnthropic().serve() as an,
        FakeGemini().serve() as ge,
        FakeWorkersAI().serve() as wa,
    ):
        yield {"openai": oa, "anthropic": an, "google-ai-studio": ge, "workers-ai": wa}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]) -> RunningGateway:
    gateway = make_gateway(upstreams={name: fake.base_url for name, fake in fakes.items()})
    gateway.configure(cache_enabled=True, semantic_cache_enabled=False)
    return gateway


def upstream_calls(fake: Any, provider: str) -> int:
    return sum(UPSTREAM_PATHS[provider] in request.path for request in fake.requests)


def assert_logged_as_unfinished(gateway: RunningGateway, provider: str, tries: int) -> None:
    """Every try went upstream (no HIT), and each record says the stream ended early and bills
    what was written (more than the one output token Anthropic's message_start announces)."""
    records = gateway.wait_for_logs(tries)
    assert [r["cache_status"] for r in records] == ["MISS"] * tries
    for record in records:
        assert (record["status"], record["stream"]) == (200, True)
        assert "ended before it finished" in (record["error"] or ""), record["error"]
        assert record["tokens_in"] > 0
        assert record["tokens_out"] > 1, (provider, record)


@pytest.mark.parametrize("provider", ["openai", "google-ai-studio", "workers-ai"])
def test_a_messages_client_gets_anthropics_error_event(
    gateway: RunningGateway, fakes: dict[str, Any], provider: str
) -> None:
    with anthropic.Anthropic(
        base_url=gateway.provider_url("compat"), api_key="key-for-the-provider", max_retries=0
    ) as client:
        for _ in range(2):
            events: list[str] = []
            with (
                pytest.raises(anthropic.APIStatusError, match="ended before it finished") as caught,
                client.messages.stream(
                    model=MODELS[provider],
                    max_tokens=200,
                    messages=[{"role": "user", "content": QUESTION}],
                    extra_headers=ENDED_EARLY,
                ) as stream,
            ):
                events.extend(event.type for event in stream)
            said = f"{SAID} ({MISSING[provider]} never came)" if provider in MISSING else SAID
            assert caught.value.body == {"type": "error", "error": {"type": "api_error", "message": said}}
            # What came before the end was relayed; no stop reason was made up.
            assert "text" in events
            assert "message_stop" not in events
            assert "message_delta" not in events
    assert upstream_calls(fakes[provider], provider) == 2
    assert_logged_as_unfinished(gateway, provider, 2)


@pytest.mark.parametrize("provider", ["anthropic", "google-ai-studio", "workers-ai"])
def test_a_responses_client_gets_response_failed(
    gateway: RunningGateway, fakes: dict[str, Any], provider: str
) -> None:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="key", max_retries=0) as client:
        for _ in range(2):
            seen: list[str] = []
            with (
                pytest.raises(openai.APIError, match="ended before it finished"),
                client.responses.stream(
                    model=MODELS[provider], input=QUESTION, max_output_tokens=200, extra_headers=ENDED_EARLY
                ) as stream,
            ):
                seen.extend(event.type for event in stream)
            assert "response.output_text.delta" in seen
            assert "response.completed" not in seen
    # The event itself, as OpenAI's: the Response failed, with what came of its output.
    body = {"model": MODELS[provider], "input": QUESTION, "max_output_tokens": 200, "stream": True}
    answer = httpx.post(
        f"{gateway.provider_url('compat')}/responses",
        json=body,
        headers={"Authorization": "Bearer key", **ENDED_EARLY},
        timeout=10,
    )
    events = [json.loads(line[5:]) for line in answer.text.splitlines() if line.startswith("data:")]
    assert [event["type"] for event in events][-1] == "response.failed"
    assert "response.completed" not in [event["type"] for event in events]
    failed = events[-1]
    assert failed["error"] == failed["response"]["error"]
    response = failed["response"]
    assert response["status"] == "failed"
    assert response["error"]["code"] == "server_error"
    assert "ended before it finished" in response["error"]["message"]
    assert response["output"][0]["content"][0]["text"]  # the text that came, not done
    assert upstream_calls(fakes[provider], provider) == 3
    assert_logged_as_unfinished(gateway, provider, 3)


@pytest.mark.parametrize("provider", ["anthropic", "google-ai-studio", "workers-ai"])
def test_a_chat_client_gets_openais_error_event(
    gateway: RunningGateway, fakes: dict[str, Any], provider: str
) -> None:
    body = {
        "model": MODELS[provider],
        "messages": [{"role": "user", "content": QUESTION}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    said = f"{SAID} ({MISSING[provider]} never came)"
    url = f"{gateway.provider_url('compat')}/chat/completions"
    for _ in range(2):
        answer = httpx.post(
            url, json=body, headers={"Authorization": "Bearer key", **ENDED_EARLY}, timeout=10
        )
        assert answer.status_code == 200
        events = [line[6:] for line in answer.text.splitlines() if line.startswith("data: ")]
        *chunks, last = [json.loads(event) for event in events]  # no `[DONE]`, which is no JSON
        assert any(choice["delta"].get("content") for chunk in chunks for choice in chunk["choices"])
        assert all(choice["finish_reason"] is None for chunk in chunks for choice in chunk["choices"])
        assert all(chunk["usage"] is None for chunk in chunks)  # no usage chunk
        assert last == {"error": {"message": said, "type": "server_error", "param": None, "code": None}}
        assert answer.text.endswith("\n\n")
    chunks: list[Any] = []
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="key", max_retries=0) as client:
        stream = client.chat.completions.create(
            model=MODELS[provider],
            messages=[{"role": "user", "content": QUESTION}],
            stream=True,
            extra_headers=ENDED_EARLY,
        )
        with pytest.raises(openai.APIError, match=re.escape(said)) as caught:
            chunks.extend(stream)  # (what came before the error stays in)
    assert caught.value.body == {"message": said, "type": "server_error", "param": None, "code": None}
    assert chunks  # what came before the end was relayed
    assert all(choice.finish_reason is None for chunk in chunks for choice in chunk.choices)
    assert upstream_calls(fakes[provider], provider) == 3
    assert_logged_as_unfinished(gateway, provider, 3)
