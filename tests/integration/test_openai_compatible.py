"""The OpenAI-compatible providers and a custom provider, each through the gateway with its SDK.

One FakeOpenAI stands in for every upstream; each provider's base URL points at it the way the
real one would (Mistral's Cloudflare path keeps `v1/`, so its upstream is the fake's root).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import groq
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

MESSAGES: list[Any] = [{"role": "user", "content": "what is the capital of France"}]
KEY = "sk-provider-0123456789abcdef"
CUSTOM = "local-vllm"


@dataclass(frozen=True)
class Case:
    provider: str
    model: str
    suffix: str = ""  # what a client adds after the provider segment, as in Cloudflare's docs
    sdk: str = "openai"

    def client(self, gateway: RunningGateway) -> Any:
        base_url = gateway.provider_url(self.provider) + self.suffix
        if self.sdk == "groq":
            return groq.Groq(base_url=base_url, api_key=KEY, max_retries=0)
        return openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0)


CASES = [
    Case("groq", "llama-3.1-8b-instant", sdk="groq"),  # the SDK requests …/groq/openai/v1/chat/completions
    Case("groq", "llama-3.1-8b-instant"),  # Cloudflare's curl: …/groq/chat/completions
    Case("mistral", "mistral-small-latest", suffix="/v1"),
    Case("deepseek", "deepseek-chat"),
    Case("openrouter", "openai/gpt-4o-mini"),
    Case("openrouter", "openai/gpt-4o-mini", suffix="/v1"),
    Case("perplexity-ai", "sonar"),
    Case(CUSTOM, "meta-llama/Llama-3.1-8B-Instruct"),
]
IDS = [f"{case.provider}-{case.sdk}{case.suffix.replace('/', '-')}" for case in CASES]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    fake.clear()
    upstreams = {name: fake.base_url for name in ("groq", "deepseek", "openrouter", "perplexity-ai")}
    return make_gateway(
        upstreams={**upstreams, "mistral": fake.url}, custom_providers={CUSTOM: fake.base_url}
    )


def direct(fake: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_plain_stream_and_error_through_the_gateway(
    gateway: RunningGateway, fake: FakeOpenAI, case: Case
) -> None:
    with direct(fake) as client:
        want = client.chat.completions.with_raw_response.create(model=case.model, messages=MESSAGES)
        with pytest.raises(openai.RateLimitError) as want_error:
            client.chat.completions.create(model="rate-limited", messages=MESSAGES)
    fake.clear()
    with case.client(gateway) as client:
        got = client.chat.completions.with_raw_response.create(model=case.model, messages=MESSAGES)
        # groq's SDK has no stream_options parameter; the request field is the same.
        stream = client.chat.completions.create(
            model=case.model,
            messages=MESSAGES,
            stream=True,
            extra_body={"stream_options": {"include_usage": True}},
        )
        chunks = list(stream)
        with pytest.raises(groq.RateLimitError if case.sdk == "groq" else openai.RateLimitError) as got_error:
            client.chat.completions.create(model="rate-limited", messages=MESSAGES)

    assert got.http_response.content == want.http_response.content
    forwarded = fake.requests[0]
    assert forwarded.path == "/v1/chat/completions"
    assert forwarded.header("authorization") == f"Bearer {KEY}"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == got.parse().choices[0].message.content == "echo: what is the capital of France"
    assert got_error.value.response.content == want_error.value.response.content
    assert got_error.value.response.headers["retry-after"] == "1"

    error, streamed, plain = gateway.wait_for_logs(3)  # newest first
    for record, usage in ((plain, got.parse().usage), (streamed, chunks[-1].usage)):
        assert (record["provider"], record["model"], record["usage_estimated"]) == (
            case.provider,
            case.model,
            False,
        )
        assert (record["tokens_in"], record["tokens_out"]) == (usage.prompt_tokens, usage.completion_tokens)
    assert (plain["stream"], streamed["stream"]) == (False, True)
    assert (error["status"], error["error"]) == (429, want_error.value.response.text)


def test_priced_providers_get_a_cost(gateway: RunningGateway) -> None:
    for case in CASES[2:5]:  # mistral, deepseek, openrouter: models genai-prices knows
        with case.client(gateway) as client:
            client.chat.completions.create(model=case.model, messages=MESSAGES)
    records = gateway.wait_for_logs(3)
    assert all(record["cost_usd"] > 0 for record in records), records


def test_stream_without_usage_is_counted_with_the_tokenizer(gateway: RunningGateway) -> None:
    with Case(CUSTOM, "gpt-4o-mini").client(gateway) as client:
        chunks = list(client.chat.completions.create(model="no-usage", messages=MESSAGES, stream=True))
    assert all(chunk.usage is None for chunk in chunks)
    record = gateway.wait_for_logs(1)[0]
    assert (record["provider"], record["usage_estimated"]) == (CUSTOM, True)
    assert record["tokens_out"] == 8  # "echo: what is the capital of France"
    assert record["tokens_in"] > 7


def test_unknown_provider_lists_the_custom_one(gateway: RunningGateway) -> None:
    response = gateway.http.post("/v1/local/default/not-configured/chat/completions", json={})
    assert response.status_code == 404
    assert {CUSTOM, "groq", "perplexity-ai"} <= set(response.json()["error"]["providers"])
