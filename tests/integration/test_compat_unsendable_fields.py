"""Chat fields a translated provider has no place for (compat/fields.py), through the compat endpoint
with the openai SDK: at a value that changes nothing (what LangChain, chat UIs and the SDKs send
by default) they are taken and not sent; at any other they are a 400 naming the field and what to
send, before anything is sent (they were dropped, so the answer ignored them unseen). Anthropic's
temperature stops at 1 (OpenAI's at 2) and is refused above it, not scaled; an Anthropic request
whose only messages are empty is refused naming the empty one (it went as `"messages": []`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.workers_ai_server import FakeWorkersAI

CLAUDE = "anthropic/claude-sonnet-4-6"
GEMINI = "google-ai-studio/gemini-2.5-flash"
LLAMA = "workers-ai/@cf/meta/llama-3.1-8b-instruct"
MESSAGES: Any = [{"role": "user", "content": "one two three"}]
EMPTY_TEXT = {"type": "text", "text": ""}
Fakes = dict[str, FakeAnthropic | FakeGemini | FakeWorkersAI]


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    with FakeAnthropic().serve() as claude, FakeGemini().serve() as gemini, FakeWorkersAI().serve() as llama:
        yield {CLAUDE: claude, GEMINI: gemini, LLAMA: llama}


@pytest.fixture
def client(make_gateway: Callable[..., RunningGateway], fakes: Fakes) -> Iterator[openai.OpenAI]:
    upstreams = {"anthropic": fakes[CLAUDE].base_url, "google-ai-studio": fakes[GEMINI].base_url}
    gateway = make_gateway(upstreams={**upstreams, "workers-ai": fakes[LLAMA].base_url})
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


# (model, field, a value that changes nothing, one that asks for what the provider cannot do)
CASES = [
    (CLAUDE, "presence_penalty", 0, 0.5),
    (CLAUDE, "frequency_penalty", 0.0, -0.3),
    (CLAUDE, "logit_bias", {}, {"50256": -100}),
    (CLAUDE, "logit_bias", {"50256": 0}, {"50256": 5}),
    (CLAUDE, "verbosity", "medium", "low"),
    (GEMINI, "logit_bias", {}, {"50256": -100}),
    (GEMINI, "verbosity", "medium", "high"),
    (LLAMA, "logit_bias", {}, {"1": 5}),
    (LLAMA, "verbosity", "medium", "low"),
]


@pytest.mark.parametrize(("model", "field", "inert", "asked"), CASES)
def test_a_field_the_provider_lacks_is_taken_at_its_default_and_refused_otherwise(
    client: openai.OpenAI, fakes: Fakes, model: str, field: str, inert: Any, asked: Any
) -> None:
    fake = fakes[model]
    client.chat.completions.create(model=model, messages=MESSAGES, extra_body={field: inert})
    assert len(fake.requests) == 1
    assert field not in fake.requests[0].json  # not sent: the provider has no such field
    generation = fake.requests[0].json.get("generationConfig", {})
    assert not {"logitBias", "verbosity"} & generation.keys()

    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=model, messages=MESSAGES, extra_body={field: asked})
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == field
    assert f"{field}: " in error["message"]
    assert "or leave the field out" in error["message"]
    assert len(fake.requests) == 1  # refused before it was sent


def test_a_seed_anthropic_lacks_is_taken_with_the_fields_a_langchain_client_sends(
    client: openai.OpenAI, fakes: Fakes
) -> None:
    """Zero penalties, an empty logit_bias and a seed, as older LangChain and chat UIs send them;
    a temperature up to Anthropic's 1 goes as it is; one above is refused."""
    answer = client.chat.completions.create(
        model=CLAUDE,
        messages=MESSAGES,
        temperature=1,
        presence_penalty=0,
        frequency_penalty=0,
        logit_bias={},
        seed=42,
        n=1,
    )
    assert answer.choices[0].message.content == "echo: one two three"
    assert answer.system_fingerprint is None  # what the seed's best effort is judged by
    body = fakes[CLAUDE].requests[0].json
    assert body["temperature"] == 1
    assert not {"seed", "presence_penalty", "frequency_penalty", "logit_bias", "n"} & body.keys()

    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=CLAUDE, messages=MESSAGES, temperature=1.5, seed=42)
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == "temperature"
    assert "temperature: Anthropic's temperature runs from 0 to 1" in error["message"]
    assert "send a value from 0 to 1" in error["message"]
    assert len(fakes[CLAUDE].requests) == 1


def test_a_temperature_thinking_leaves_out_is_not_refused(client: openai.OpenAI, fakes: Fakes) -> None:
    """With thinking Anthropic takes no temperature, and the translation leaves it out: a value
    above 1 is not sent, so not refused either."""
    client.chat.completions.create(model=CLAUDE, messages=MESSAGES, temperature=1.5, reasoning_effort="low")
    body = fakes[CLAUDE].requests[0].json
    assert "temperature" not in body
    assert body["thinking"] == {"type": "adaptive"}

    with pytest.raises(openai.BadRequestError):  # without thinking it would be sent
        client.chat.completions.create(model=CLAUDE, messages=MESSAGES, temperature=1.5)


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([{"role": "user", "content": ""}], "messages[0].content"),
        ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": [EMPTY_TEXT]}],
         "messages[1].content"),
        ([{"role": "system", "content": "Be brief."}], "messages"),
    ],
)  # fmt: skip
def test_a_request_with_no_message_anthropic_takes_is_refused_naming_it(
    client: openai.OpenAI, fakes: Fakes, messages: Any, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=CLAUDE, messages=messages)
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == param
    assert "Anthropic takes no empty message" in error["message"]
    assert not fakes[CLAUDE].requests  # not sent as `"messages": []`

    # An empty message beside others says nothing: it is left out, the rest goes.
    client.chat.completions.create(model=CLAUDE, messages=[*messages, {"role": "user", "content": "hi"}])
    assert fakes[CLAUDE].requests[0].json["messages"] == [{"role": "user", "content": "hi"}]
