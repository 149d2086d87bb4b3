"""Anthropic structured outputs through the Messages ingress to other providers: the anthropic
SDK's `messages.parse` / `messages.stream` with `output_format` (sent as `output_config.format`),
and the beta's top-level `output_format`, become chat's response_format json_schema."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pytest
from pydantic import BaseModel

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI

TEXT = "Ann is thirty"
MODELS = ["openai/gpt-4o-mini", "google-ai-studio/gemini-2.5-flash"]


class Person(BaseModel):
    name: str
    age: int


# What the fakes fill a schema in with: strings the user text, integers its word count.
ANN = Person(name=TEXT, age=3)


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with FakeOpenAI().serve() as oa, FakeGemini().serve() as ge:
        yield {"openai": oa, "google-ai-studio": ge}


@pytest.fixture
def client(
    make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]
) -> Iterator[anthropic.Anthropic]:
    gateway = make_gateway(upstreams={name: fake.base_url for name, fake in fakes.items()})
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


@pytest.mark.parametrize("model", MODELS)
def test_parse_with_output_format_returns_the_object(
    client: anthropic.Anthropic, fakes: dict[str, Any], model: str
) -> None:
    message = client.messages.parse(
        model=model, max_tokens=200, messages=[{"role": "user", "content": TEXT}], output_format=Person
    )
    assert message.parsed_output == ANN
    provider = model.split("/")[0]
    if provider == "openai":
        sent = fakes["openai"].requests[-1].json["response_format"]
        assert sent["type"] == "json_schema"
        assert sent["json_schema"]["schema"]["properties"].keys() == {"name", "age"}
    else:
        assert fakes[provider].requests[-1].json["generationConfig"]["responseMimeType"] == "application/json"


@pytest.mark.parametrize("model", MODELS)
def test_a_streamed_parse_returns_the_object(client: anthropic.Anthropic, model: str) -> None:
    with client.messages.stream(
        model=model, max_tokens=200, messages=[{"role": "user", "content": TEXT}], output_format=Person
    ) as stream:
        message = stream.get_final_message()
    assert message.parsed_output == ANN


def test_the_betas_top_level_output_format_is_taken(client: anthropic.Anthropic) -> None:
    schema = {**Person.model_json_schema(), "additionalProperties": False}
    message = client.messages.create(
        model="openai/gpt-4o-mini",
        max_tokens=200,
        messages=[{"role": "user", "content": TEXT}],
        extra_body={"output_format": {"type": "json_schema", "schema": schema}},
    )
    block = message.content[0]
    assert block.type == "text"
    assert Person.model_validate_json(block.text) == ANN


def test_a_format_without_a_schema_is_refused_naming_it(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model="openai/gpt-4o-mini",
            max_tokens=200,
            messages=[{"role": "user", "content": TEXT}],
            extra_body={"output_config": {"format": {"type": "json_schema"}}},
        )
    assert "output_config.format" in str(caught.value)
