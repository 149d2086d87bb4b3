"""The compat model's provider prefix in any case (`OpenAI/gpt-4o`), as the universal endpoint
takes `"provider": "OpenAI"`: through chat, Messages and Responses, native passes included."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI

QUESTION = "what is the capital of France"


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with FakeOpenAI().serve() as oa, FakeAnthropic().serve() as an:
        yield {"openai": oa, "deepseek": oa, "anthropic": an}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]) -> RunningGateway:
    return make_gateway(upstreams={name: fake.base_url for name, fake in fakes.items()})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


@pytest.mark.parametrize("model", ["OpenAI/gpt-4o", "ANTHROPIC/claude-sonnet-4-5", "DeepSeek/deepseek-chat"])
def test_chat_takes_the_provider_in_any_case(
    client: openai.OpenAI, gateway: RunningGateway, fakes: dict[str, Any], model: str
) -> None:
    answer = client.chat.completions.create(model=model, messages=[{"role": "user", "content": QUESTION}])
    assert QUESTION in (answer.choices[0].message.content or "")
    slug, _, bare = model.partition("/")
    sent = fakes[slug.lower()].requests[-1]
    assert bare in sent.path or sent.json["model"] == bare  # the prefix never reaches the provider
    assert gateway.wait_for_logs(1)[0]["provider"] == slug.lower()


def test_messages_and_responses_take_it_too_and_pass_their_own_providers_through(
    gateway: RunningGateway, client: openai.OpenAI, fakes: dict[str, Any]
) -> None:
    response = client.responses.create(model="OpenAI/gpt-4o", input=QUESTION)
    assert fakes["openai"].requests[-1].path == "/v1/responses"  # untranslated, as openai/ is
    assert QUESTION in response.output_text
    translated = client.responses.create(model="Anthropic/claude-sonnet-4-5", input=QUESTION)
    assert QUESTION in translated.output_text
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as claude:
        message = claude.messages.create(
            model="Anthropic/claude-sonnet-4-5",
            max_tokens=64,
            messages=[{"role": "user", "content": QUESTION}],
        )
        assert fakes["anthropic"].requests[-1].json["model"] == "claude-sonnet-4-5"
        assert message.type == "message"
        via_chat = claude.messages.create(
            model="OpenAI/gpt-4o-mini", max_tokens=64, messages=[{"role": "user", "content": QUESTION}]
        )
        assert fakes["openai"].requests[-1].path == "/v1/chat/completions"
        assert QUESTION in via_chat.content[0].text  # type: ignore[union-attr]
