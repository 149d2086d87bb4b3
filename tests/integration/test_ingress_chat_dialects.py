"""The Messages and Responses ingress speak to OpenAI-compatible providers in the fields each takes:
the official `anthropic` and `openai` SDKs pointed at `…/compat`, talking to a strict server that
refuses what Mistral's chat API lacks (a 422 `extra_forbidden`), to a lenient one (DeepSeek) and
to OpenAI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.mistral_server import FakeMistral
from tests.fakes.openai_server import FakeOpenAI

QUESTION = "what is the capital of France"
TOOL: Any = {
    "type": "function",
    "name": "lookup_capital",
    "parameters": {"type": "object", "properties": {"country": {"type": "string"}}},
}


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with FakeMistral().serve() as mistral, FakeOpenAI().serve() as lenient:
        yield {"mistral": mistral, "deepseek": lenient, "openai": lenient, "groq": lenient}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]) -> RunningGateway:
    # Mistral's base URL is its host: the compat endpoint adds `v1/` (providers/openai_compatible.py).
    upstreams = {name: fake.base_url for name, fake in fakes.items()}
    return make_gateway(upstreams={**upstreams, "mistral": fakes["mistral"].url})


@pytest.fixture
def claude(gateway: RunningGateway) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


def test_an_anthropic_sdk_message_reaches_a_strict_server(
    claude: anthropic.Anthropic, fakes: dict[str, Any]
) -> None:
    message = claude.messages.create(
        model="mistral/mistral-small-latest",
        max_tokens=256,
        metadata={"user_id": "user-1"},
        messages=[{"role": "user", "content": QUESTION}],
        tools=[{"name": "lookup_capital", "input_schema": TOOL["parameters"]}],
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
    )
    assert QUESTION in message.content[0].text  # type: ignore[union-attr]
    sent = fakes["mistral"].requests[-1].json
    assert sent["max_tokens"] == 256
    assert "max_completion_tokens" not in sent
    assert "user" not in sent  # Mistral has no such field: the user id only tags the request
    assert sent["parallel_tool_calls"] is False  # which Mistral takes


def test_an_anthropic_sdk_stream_reaches_a_strict_server_and_reports_its_usage(
    claude: anthropic.Anthropic, gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    with claude.messages.stream(
        model="mistral/mistral-small-latest", max_tokens=256, messages=[{"role": "user", "content": QUESTION}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert QUESTION in text
    assert "stream_options" not in fakes["mistral"].requests[-1].json
    assert final.usage.output_tokens == len(text.split())  # Mistral's last chunk said it unasked
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], record["usage_estimated"]) == (200, False)


@pytest.mark.parametrize("stream", [False, True])
def test_an_openai_sdk_response_reaches_a_strict_server(
    client: openai.OpenAI, fakes: dict[str, Any], stream: bool
) -> None:
    asked: Any = {
        "model": "mistral/mistral-small-latest",
        "input": QUESTION,
        "max_output_tokens": 256,
        "user": "user-1",
        "parallel_tool_calls": False,
        "tools": [TOOL],
    }
    if stream:
        events = list(client.responses.create(**asked, stream=True))
        assert events[-1].type == "response.completed"
        text = events[-1].response.output_text  # type: ignore[union-attr]
    else:
        text = client.responses.create(**asked).output_text
    assert QUESTION in text
    sent = fakes["mistral"].requests[-1].json
    assert (sent["max_tokens"], sent["parallel_tool_calls"]) == (256, False)
    assert not {"max_completion_tokens", "user", "stream_options"} & set(sent)


def test_each_provider_gets_the_cap_it_documents_and_a_chat_clients_fields_go_as_sent(
    claude: anthropic.Anthropic, client: openai.OpenAI, fakes: dict[str, Any]
) -> None:
    lenient = fakes["deepseek"]
    caps = {
        "deepseek/deepseek-chat": (8, None),  # max_tokens, the only name DeepSeek documents
        "groq/llama-3.1-8b-instant": (None, 8),  # max_completion_tokens, Groq's current name
        "openai/gpt-4o-mini": (None, 8),  # OpenAI's reasoning models refuse max_tokens
    }
    for model, cap in caps.items():
        claude.messages.create(model=model, max_tokens=8, messages=[{"role": "user", "content": QUESTION}])
        sent = lenient.requests[-1].json
        assert (sent.get("max_tokens"), sent.get("max_completion_tokens")) == cap, model
        assert sent.get("stream_options") is None
    client.responses.create(model="deepseek/deepseek-chat", input=QUESTION, max_output_tokens=8, stream=True)
    sent = lenient.requests[-1].json
    assert (sent.get("max_tokens"), sent.get("max_completion_tokens")) == (8, None)
    assert sent["stream_options"] == {"include_usage": True}  # a lenient server is asked for usage
    # A chat client's own cap goes as it came, whatever the provider makes of it (only fields that
    # change no answer are left out: test_compat_refused_fields.py).
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(
            model="mistral/mistral-small-latest",
            messages=[{"role": "user", "content": QUESTION}],
            max_completion_tokens=8,
        )
