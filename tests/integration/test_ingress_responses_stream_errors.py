"""The provider's error event in the middle of a stream, rendered for a Responses client: the
stream ends in `response.failed` holding that error (at the event's top level too), so the openai
SDK raises it as an APIError instead of ending with "Didn't receive a `response.completed` event";
the record keeps the error, and the stream is not cached."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI

FAILS = {"x-fake-behavior": "error-mid-stream"}
QUESTION = "name the three largest cities of France in order"
# The fakes' in-stream errors: Anthropic's overloaded_error, OpenAI's server_error.
MODELS = {"anthropic": "anthropic/claude-sonnet-4-6", "groq": "groq/llama-3.1-8b-instant"}
MESSAGES = {"anthropic": "Overloaded", "groq": "The server had an error"}
UPSTREAM_PATHS = {"anthropic": "messages", "groq": "chat/completions"}


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with FakeAnthropic().serve() as anthropic_fake, FakeOpenAI().serve() as openai_fake:
        yield {"anthropic": anthropic_fake, "groq": openai_fake}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]) -> RunningGateway:
    gateway = make_gateway(upstreams={name: fake.base_url for name, fake in fakes.items()})
    gateway.configure(cache_enabled=True, semantic_cache_enabled=False)
    return gateway


@pytest.mark.parametrize("provider", ["anthropic", "groq"])
def test_an_upstream_error_mid_stream_ends_in_response_failed(
    gateway: RunningGateway, fakes: dict[str, Any], provider: str
) -> None:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="key", max_retries=0) as client:
        for _ in range(2):
            seen: list[str] = []
            with (
                pytest.raises(openai.APIError, match=MESSAGES[provider]) as caught,
                client.responses.stream(
                    model=MODELS[provider], input=QUESTION, max_output_tokens=200, extra_headers=FAILS
                ) as stream,
            ):
                seen.extend(event.type for event in stream)
            assert "response.output_text.delta" in seen  # what came before the error was relayed
            assert caught.value.body is not None
            assert caught.value.body["code"] == "server_error"  # type: ignore[index]
    body = {"model": MODELS[provider], "input": QUESTION, "max_output_tokens": 200, "stream": True}
    answer = httpx.post(
        f"{gateway.provider_url('compat')}/responses",
        json=body,
        headers={"Authorization": "Bearer key", **FAILS},
        timeout=10,
    )
    events = [json.loads(line[5:]) for line in answer.text.splitlines() if line.startswith("data:")]
    kinds = [event["type"] for event in events]
    assert kinds[-1] == "response.failed"
    assert "error" not in kinds
    assert "response.completed" not in kinds
    failed = events[-1]
    assert failed["error"] == failed["response"]["error"]
    assert failed["response"]["status"] == "failed"
    assert MESSAGES[provider] in failed["response"]["error"]["message"]
    # Never cached (each try went upstream), and each record names the provider's error.
    assert sum(UPSTREAM_PATHS[provider] in r.path for r in fakes[provider].requests) == 3
    records = gateway.wait_for_logs(3)
    assert [r["cache_status"] for r in records] == ["MISS"] * 3
    assert all(MESSAGES[provider] in (r["error"] or "") for r in records), records
