"""Fields of a Messages or Responses request beyond the conversation, translated to other providers:
what chat can say is translated (the Responses API's logprobs, Gemini's here), what changes no
answer is taken (and echoed), and anything else is a 400 in the client's shape naming the field,
never dropped while the answer echoes it as if honoured."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.workers_ai_server import FakeWorkersAI

GEMINI = "google-ai-studio/gemini-2.5-flash"
QUESTION = "name three rivers"
LOGPROBS: Any = {"include": ["message.output_text.logprobs"], "top_logprobs": 2}


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeGemini, FakeWorkersAI]]:
    with FakeGemini().serve() as gemini, FakeWorkersAI().serve() as workers_ai:
        yield gemini, workers_ai


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], upstreams: tuple[FakeGemini, FakeWorkersAI]
) -> RunningGateway:
    gemini, workers_ai = upstreams
    return make_gateway(upstreams={"google-ai-studio": gemini.base_url, "workers-ai": workers_ai.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


def test_responses_logprobs_are_geminis(
    client: openai.OpenAI, upstreams: tuple[FakeGemini, FakeWorkersAI]
) -> None:
    gemini = upstreams[0]
    whole = client.responses.create(model=GEMINI, input=QUESTION, **LOGPROBS)
    assert gemini.requests[-1].json["generationConfig"]["responseLogprobs"] is True
    assert gemini.requests[-1].json["generationConfig"]["logprobs"] == 2
    assert whole.top_logprobs == 2
    part = whole.output[-1].content[0]  # type: ignore[union-attr]
    assert part.type == "output_text"
    assert "".join(logprob.token for logprob in part.logprobs or ()) == part.text
    assert all(len(logprob.top_logprobs) == 2 for logprob in part.logprobs or ())
    assert all(logprob.logprob < 0 for logprob in part.logprobs or ())

    with client.responses.stream(model=GEMINI, input=QUESTION, **LOGPROBS) as stream:
        streamed = [
            logprob.token
            for event in stream
            if event.type == "response.output_text.delta"
            for logprob in event.logprobs
        ]
        final = stream.get_final_response()
    assert "".join(streamed) == final.output_text
    final_part = final.output[-1].content[0]  # type: ignore[union-attr]
    assert [logprob.token for logprob in final_part.logprobs or ()] == streamed  # type: ignore[union-attr]


def test_fields_that_change_no_answer_are_taken_and_echoed(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model=GEMINI,
        input=QUESTION,
        max_tool_calls=4,
        top_logprobs=3,  # without include's logprobs, OpenAI returns none either
        truncation="auto",
        prompt_cache_key="k",
    )
    assert (response.max_tool_calls, response.top_logprobs) == (4, 3)
    assert response.output[-1].content[0].logprobs == []  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("asked", "field"),
    [
        ({"extra_body": {"moderation": {"model": "omni-moderation-latest"}}}, "moderation"),
        ({"include": ["message.output_text.logprobs", "everything"]}, "include[1]"),
        ({"text": {"verbosity": "low"}}, "verbosity"),  # Gemini has no verbosity
        # chat's logprobs, said as the client's own field (ingress/client_fields.py)
        ({"model": "workers-ai/@cf/meta/llama-3.1-8b-instruct", **LOGPROBS}, "include"),
    ],
)
def test_what_the_provider_cannot_honour_is_a_400_naming_it(
    client: openai.OpenAI, upstreams: tuple[FakeGemini, FakeWorkersAI], asked: dict[str, Any], field: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(**{"model": GEMINI, "input": QUESTION, **asked})
    assert field in caught.value.message
    assert not upstreams[0].requests
    assert not upstreams[1].requests


@pytest.mark.parametrize(
    ("asked", "field"),
    [
        ({"extra_body": {"top_k": 5}}, "top_k"),
        ({"output_config": {"effort": "low"}}, "output_config.effort"),
        ({"extra_body": {"frequency_penalty": 0.5}}, "frequency_penalty"),
    ],
)
def test_messages_fields_without_a_translation_are_refused(
    gateway: RunningGateway, upstreams: tuple[FakeGemini, FakeWorkersAI], asked: dict[str, Any], field: str
) -> None:
    with (
        anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as claude,
        pytest.raises(anthropic.BadRequestError) as caught,
    ):
        claude.messages.create(
            model=GEMINI, max_tokens=100, messages=[{"role": "user", "content": QUESTION}], **asked
        )
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert field in caught.value.message
    assert not upstreams[0].requests
    # What changes no answer is taken: Anthropic's automatic prompt caching, the service tier.
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as claude:
        message = claude.messages.create(
            model=GEMINI,
            max_tokens=100,
            messages=[{"role": "user", "content": QUESTION}],
            service_tier="auto",
            extra_body={"cache_control": {"type": "ephemeral"}},
        )
    assert message.content


def test_a_tools_refusal_says_what_is_wrong_with_it(gateway: RunningGateway, client: openai.OpenAI) -> None:
    """A custom tool without its schema is no server tool; a Responses custom tool or a nameless
    function tool is no tool OpenAI runs: each refusal says what the client sent wrong."""
    with (
        anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as claude,
        pytest.raises(anthropic.BadRequestError) as schemaless,
    ):
        claude.messages.create(
            model=GEMINI,
            max_tokens=100,
            messages=[{"role": "user", "content": QUESTION}],
            tools=[{"name": "lookup"}],  # type: ignore[typeddict-item]
        )
    assert "tools.0.input_schema: a JSON Schema object is required" in schemaless.value.message
    assert "server tool" not in schemaless.value.message
    tools: list[Any] = [
        ({"type": "custom", "name": "grep"}, "tools[0].type", "custom tool"),
        ({"type": "function", "parameters": {"type": "object"}}, "tools[0].name", "needs a name"),
        ({"type": "web_search"}, "tools[0].type", "built-in tools"),
    ]
    for tool, param, said in tools:
        with pytest.raises(openai.BadRequestError) as caught:
            client.responses.create(model=GEMINI, input=QUESTION, tools=[tool])
        assert caught.value.param == param
        assert said in caught.value.message
