"""`x-semantic-cache` on every answer to a client that speaks Fastly AI Accelerator, as Fastly's
clients count hits by it: `MISS` also where no cache could serve the request (the semantic cache
on but unable to: temperature above 1, several choices, tool results; turned off by
`x-settings-overrides`; a refusal), while `cf-aig-cache-status` stays absent where no cache
applied, as the log record's empty `cache_status` says. Official SDKs against the fake upstreams."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from google import genai
from google.genai import types as genai_types

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI

MODEL = "claude-sonnet-4-6"
SEGMENT = {"x-semantic-cache-key": "team-a"}  # what makes an SDK's request one that speaks Fastly
QUESTION: list[Any] = [{"role": "user", "content": "How do I reset my password?"}]
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}}}
]
TOOL_RESULT: list[Any] = [
    {"role": "user", "content": "What's the weather in Oslo?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "sunny, 21C"},
    {"role": "user", "content": "Summarise that for me."},
]


@pytest.fixture
def fakes() -> Iterator[tuple[FakeOpenAI, FakeGemini]]:
    with FakeOpenAI().serve() as chat, FakeGemini().serve() as gemini:
        yield chat, gemini


@pytest.fixture
def semantic_on(
    make_gateway: Callable[..., RunningGateway], fakes: tuple[FakeOpenAI, FakeGemini]
) -> RunningGateway:
    """The semantic cache on, the exact cache off (the gateway's default)."""
    upstreams = {"openai": fakes[0].base_url, "google-ai-studio": fakes[1].base_url}
    gateway = make_gateway(upstreams=upstreams)
    gateway.configure(semantic_cache_enabled=True)
    return gateway


def chat(gateway: RunningGateway, messages: list[Any], headers: dict[str, str], **fields: Any) -> Any:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
        return client.chat.completions.with_raw_response.create(
            model=MODEL, messages=messages, extra_headers=headers, **fields
        )


@pytest.mark.parametrize(
    ("messages", "fields"),
    [
        (QUESTION, {"temperature": 1.5}),
        (QUESTION, {"n": 2}),
        (TOOL_RESULT, {"tools": TOOLS}),
    ],
    ids=["temperature", "choices", "tool-results"],
)
def test_a_request_the_semantic_cache_cannot_serve_says_miss_to_fastly(
    semantic_on: RunningGateway, fakes: tuple[FakeOpenAI, FakeGemini], messages: list[Any], fields: Any
) -> None:
    answer = chat(semantic_on, messages, SEGMENT, **fields)
    assert answer.parse().choices[0].message.content.startswith("echo: ")
    assert answer.headers.get("x-semantic-cache") == "MISS"
    assert "cf-aig-cache-status" not in answer.headers  # no cache was read: Cloudflare's says nothing
    assert "x-semantic-similarity" not in answer.headers
    assert semantic_on.wait_for_logs(1)[0]["cache_status"] == ""
    assert len(fakes[0].requests) == 1
    plain = chat(semantic_on, messages, {}, **fields)  # not Fastly's client: no Fastly header
    assert "x-semantic-cache" not in plain.headers


def test_gemini_candidate_count_says_miss_to_fastly(semantic_on: RunningGateway) -> None:
    options = genai_types.HttpOptions(
        base_url=semantic_on.provider_url("google-ai-studio"), api_version="v1beta", headers=SEGMENT
    )
    with genai.Client(api_key="AIza-test", http_options=options) as client:
        config = genai_types.GenerateContentConfig(candidate_count=2)
        answer = client.models.generate_content(
            model=MODEL, contents="How do I reset my password?", config=config
        )
    assert answer.sdk_http_response is not None
    assert answer.sdk_http_response.headers is not None
    headers = {name.lower(): value for name, value in answer.sdk_http_response.headers.items()}
    assert headers.get("x-semantic-cache") == "MISS"
    assert "cf-aig-cache-status" not in headers


def test_fastlys_own_form_with_the_semantic_cache_turned_off_says_miss(
    make_gateway: Callable[..., RunningGateway], fakes: tuple[FakeOpenAI, FakeGemini]
) -> None:
    """Host-in-path and `Fastly-Key`, `x-settings-overrides` turning the semantic cache off, the
    exact cache off: no cache applies, and Fastly's header still says MISS (its only other value)."""
    gateway = make_gateway(host_overrides={"api.openai.com": fakes[0].url})
    secret = gateway.http.post(
        "/api/v1/accounts/local/tokens", json={"name": "app", "scopes": ["run"], "gateways": ["default"]}
    ).json()["token"]
    off = {"x-settings-overrides": '{"semantic_cache_enabled": false}'}
    with openai.OpenAI(
        base_url=f"{gateway.url}/api.openai.com/v1",
        api_key="sk-openai",
        default_headers={"Fastly-Key": secret},
        max_retries=0,
    ) as client:
        for headers in (off, {}):
            answer = client.chat.completions.with_raw_response.create(
                model=MODEL, messages=QUESTION, extra_headers=headers
            )
            assert answer.parse().choices[0].message.content == "echo: How do I reset my password?"
            assert answer.headers.get("x-semantic-cache") == "MISS"
            assert "cf-aig-cache-status" not in answer.headers
    assert [record["cache_status"] for record in gateway.wait_for_logs(2)] == ["", ""]


def test_a_refusal_says_miss_to_fastly(
    semantic_on: RunningGateway, fakes: tuple[FakeOpenAI, FakeGemini]
) -> None:
    semantic_on.configure(rate_limits=[{"name": "one", "limit": 1, "period": 60}])
    assert chat(semantic_on, QUESTION, SEGMENT).headers.get("x-semantic-cache") == "MISS"
    with pytest.raises(openai.RateLimitError) as refused:
        chat(semantic_on, QUESTION, SEGMENT)
    assert refused.value.response.headers.get("x-semantic-cache") == "MISS"
    assert len(fakes[0].requests) == 1
