"""Response guardrails read Gemini's thought summaries (`thought: true` parts, asked for with
`includeThoughts`) on its native endpoints, with the google-genai SDK: whole and streamed (SSE), a
`block` rule refusing a whole answer whose thoughts match. A thought run whose text a rule changed
loses its `thoughtSignature`; a function call's signature (Gemini 3 requires it back) stays."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from google import genai
from google.genai import errors, types

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
ASKED = f"save_note my key is {AWS_KEY}"
THOUGHT = "The user wrote: save_note my key is [SECRET_1]"  # the fake's summary, redacted
ANSWER = "echo: save_note my key is [SECRET_1]"
THINKING = types.ThinkingConfig(include_thoughts=True)
REDACT = {"pii": {"action": "redact", "entities": ["secret"], "direction": "response"}}


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    with FakeGemini().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], gemini: FakeGemini) -> RunningGateway:
    return make_gateway(upstreams={"google-ai-studio": gemini.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[genai.Client]:
    options = types.HttpOptions(base_url=gateway.provider_url("google-ai-studio"), api_version="v1beta")
    with genai.Client(api_key="AIzaSy-fake-0123456789abcdefghijklmnop", http_options=options) as sdk:
        yield sdk


def test_a_whole_answers_thought_summary_is_redacted_and_unsigned(
    gateway: RunningGateway, client: genai.Client
) -> None:
    gateway.configure(guardrails=REDACT)
    config = types.GenerateContentConfig(thinking_config=THINKING)
    answer = client.models.generate_content(model="gemini-2.5-flash", contents=ASKED, config=config)
    assert answer.candidates is not None
    assert answer.candidates[0].content is not None
    thought, text = answer.candidates[0].content.parts or []
    assert (thought.thought, thought.text, thought.thought_signature) == (True, THOUGHT, None)
    assert text.text == ANSWER
    assert answer.sdk_http_response is not None
    assert answer.sdk_http_response.headers is not None
    assert answer.sdk_http_response.headers["x-sluicegate-guardrails"] == "response:redact:secret"


def test_a_streamed_thought_summary_is_redacted_and_its_run_unsigned(
    gateway: RunningGateway, client: genai.Client
) -> None:
    gateway.configure(guardrails=REDACT)
    config = types.GenerateContentConfig(thinking_config=THINKING)
    chunks = list(
        client.models.generate_content_stream(model="gemini-2.5-flash", contents=ASKED, config=config)
    )
    parts = [
        part
        for chunk in chunks
        for candidate in chunk.candidates or []
        if candidate.content is not None
        for part in candidate.content.parts or []
    ]
    assert not any(AWS_KEY in (part.text or "") for part in parts)
    assert "".join(part.text or "" for part in parts if part.thought) == THOUGHT
    assert "".join(part.text or "" for part in parts if not part.thought) == ANSWER
    # The run's signature came on its last, empty part: the thought text changed, so it is gone.
    assert not any(part.thought_signature for part in parts)
    # What the thought pipe held went out before the answer: every thought part comes first.
    kinds = [bool(part.thought) for part in parts]
    assert kinds == sorted(kinds, reverse=True)


@pytest.mark.parametrize("stream", [False, True])
def test_a_function_call_keeps_its_signature_when_the_thoughts_before_it_are_redacted(
    gateway: RunningGateway, client: genai.Client, stream: bool
) -> None:
    gateway.configure(guardrails=REDACT)
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(name="save_note", description="d")])
    config = types.GenerateContentConfig(thinking_config=THINKING, tools=[tool])
    model = "gemini-3-flash-preview"
    if stream:
        chunks = list(client.models.generate_content_stream(model=model, contents=ASKED, config=config))
    else:
        chunks = [client.models.generate_content(model=model, contents=ASKED, config=config)]
    parts = [
        part
        for chunk in chunks
        for candidate in chunk.candidates or []
        if candidate.content is not None
        for part in candidate.content.parts or []
    ]
    assert "".join(part.text or "" for part in parts if part.thought) == THOUGHT
    assert not any(part.thought_signature for part in parts if part.thought)
    (call,) = [part for part in parts if part.function_call is not None]
    assert call.function_call is not None
    assert call.function_call.args == {"query": "save_note my key is [SECRET_1]"}
    # Gemini 3 refuses the call back without its signature, which vouches for no summary text.
    assert call.thought_signature == b"fake-thought-000001"


def test_a_block_rule_refuses_a_whole_answer_whose_thoughts_match(
    gateway: RunningGateway, gemini: FakeGemini, client: genai.Client
) -> None:
    gateway.configure(
        guardrails={"pii": {"action": "block", "entities": ["secret"], "direction": "response"}}
    )
    # One word of answer ("echo:"): only the thought summary holds the key.
    config = types.GenerateContentConfig(thinking_config=THINKING, max_output_tokens=1)
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model="gemini-2.5-flash", contents=ASKED, config=config)
    assert raised.value.code == 400
    assert AWS_KEY not in str(raised.value.details)
    detail = raised.value.details["error"]["sluicegate"]
    assert (detail["code"], detail["entity"], detail["direction"]) == (
        "guardrail_blocked",
        "secret",
        "response",
    )
    assert len(gemini.requests) == 1  # the question went upstream; the answer was refused
