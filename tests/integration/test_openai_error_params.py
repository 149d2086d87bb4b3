"""The gateway's own 400s to OpenAI-shaped requests name the field to blame in `param`, as OpenAI's
errors do (`messages[0].role`, `input[0].content[1]`, `temperature`), and carry `"param": null`
when no one field is; the official `openai` SDK reads it as `err.param`. Anthropic's Messages API on
the same endpoint keeps its own error shape, which has no such field."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI

CLAUDE = "anthropic/claude-sonnet-4-6"
GEMINI = "google-ai-studio/gemini-2.5-flash"
HELLO: Any = [{"role": "user", "content": "hello"}]
NOT_JSON = {"cf-aig-metadata": "{not json"}  # a header the gateway refuses: no field of the body
AUDIO: Any = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
THIRD_TURN: Any = [
    *HELLO,
    {"role": "assistant", "content": "hi"},
    {"role": "user", "content": [{"type": "text", "text": "what is this?"}, AUDIO]},
]
STORED_FILE: Any = {"type": "file", "file": {"file_id": "file-123"}}  # OpenAI's stored files only
TWO_TOOLS: Any = [{"type": "function", "function": {"name": "a"}}, {"type": "x"}]
ARRAY_SCHEMA: Any = {"type": "json_schema", "json_schema": {"schema": {"type": "array"}}}


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, claude: FakeAnthropic, gemini: FakeGemini
) -> RunningGateway:
    upstreams = {"openai": fake.base_url, "anthropic": claude.base_url, "google-ai-studio": gemini.base_url}
    return make_gateway(upstreams=upstreams)


@pytest.fixture
def compat(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


@pytest.fixture
def direct(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="k", max_retries=0) as client:
        yield client


def refused(call: Callable[[], object]) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    assert isinstance(caught.value.body, dict)
    assert "param" in caught.value.body, caught.value.body  # there, null or not, as in OpenAI's errors
    return caught.value


@pytest.mark.parametrize(
    ("model", "messages", "extra", "param"),
    [
        ("gpt-4o-mini", HELLO, {}, "model"),  # no provider named
        ("nope/gpt-4o-mini", HELLO, {}, "model"),  # an unknown one
        (CLAUDE, [{"role": "narrator", "content": "hi"}], {}, "messages[0].role"),
        (CLAUDE, THIRD_TURN, {}, "messages[2].content[1]"),
        (CLAUDE, [*HELLO, {"role": "tool", "content": "42"}], {}, "messages[1].tool_call_id"),
        (CLAUDE, HELLO, {"n": 2}, "n"),
        (CLAUDE, HELLO, {"tools": TWO_TOOLS}, "tools[1]"),
        # Anthropic's answer tool takes an object schema only.
        (CLAUDE, HELLO, {"response_format": ARRAY_SCHEMA}, "response_format.json_schema.schema"),
        (GEMINI, [{"role": "user", "content": [STORED_FILE]}], {}, "messages[0].content[0].file"),
        (GEMINI, HELLO, {"logprobs": True, "top_logprobs": 50}, "top_logprobs"),
    ],
)
def test_chat_400s_name_the_field(
    compat: openai.OpenAI, model: str, messages: Any, extra: dict[str, Any], param: str
) -> None:
    error = refused(lambda: compat.chat.completions.create(model=model, messages=messages, extra_body=extra))

    assert error.param == param
    assert error.code == "bad_request"  # the gateway's own code and type, as before
    assert error.type == "sluicegate_error"


def test_chat_400s_about_no_field_carry_a_null_param(compat: openai.OpenAI, direct: openai.OpenAI) -> None:
    provider = refused(
        lambda: direct.chat.completions.create(model="gpt-4o-mini", messages=HELLO, extra_headers=NOT_JSON)
    )
    unified = refused(
        lambda: compat.chat.completions.create(
            model="openai/gpt-4o-mini", messages=HELLO, extra_headers=NOT_JSON
        )
    )

    assert (provider.param, unified.param) == (None, None)
    assert "cf-aig-metadata" in provider.message


@pytest.mark.parametrize(
    ("request_", "param"),
    [
        ({"input": [{"role": "robot", "content": "hi"}]}, "input[0].role"),
        ({"input": "hi", "temperature": "hot"}, "temperature"),
        ({"input": "hi", "previous_response_id": "resp_123"}, "previous_response_id"),
        ({"input": [{"type": "item_reference", "id": "msg_nowhere"}]}, "input[0]"),
        (
            {"input": "hi", "tools": [{"type": "function", "name": "f"}, {"type": "web_search"}]},
            "tools[1].type",
        ),
        (
            {
                "input": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_text", "text": "summarise"},
                            {"type": "input_file", "file_id": "file-123"},
                        ],
                    }
                ]
            },
            "input[0].content[1]",
        ),
        ({"input": "hi", "text": {"format": {"type": "yaml"}}}, "text.format"),
    ],
)
def test_responses_400s_name_the_field(compat: openai.OpenAI, request_: dict[str, Any], param: str) -> None:
    error = refused(lambda: compat.responses.create(model=CLAUDE, **request_))

    assert error.param == param
    assert (error.code, error.type) == ("bad_request", "sluicegate_error")


def test_responses_400s_about_no_field_carry_a_null_param(compat: openai.OpenAI) -> None:
    header = refused(lambda: compat.responses.create(model=CLAUDE, input="hi", extra_headers=NOT_JSON))
    # A Responses request is translated to chat before Anthropic's translation refuses it: the chat
    # field it names (messages[0].content[0].file) is said as the client's own (ingress/client_fields.py).
    text = "data:text/plain;base64,aGVsbG8="
    part: Any = {"type": "input_file", "filename": "a.txt", "file_data": text}
    translated = refused(
        lambda: compat.responses.create(model=CLAUDE, input=[{"role": "user", "content": [part]}])
    )

    assert (header.param, translated.param) == (None, "input[0].content[0]")
    assert "Anthropic reads PDF documents only" in translated.message


def test_embeddings_400s_name_the_model_or_nothing(compat: openai.OpenAI, direct: openai.OpenAI) -> None:
    unavailable = refused(lambda: compat.embeddings.create(model=CLAUDE, input="hello"))
    unnamed = refused(lambda: compat.embeddings.create(model="text-embedding-3-small", input="hello"))
    header = refused(
        lambda: direct.embeddings.create(
            model="text-embedding-3-small", input="hello", extra_headers=NOT_JSON
        )
    )

    assert (unavailable.param, unnamed.param, header.param) == ("model", "model", None)


def test_anthropics_shape_gets_no_param(gateway: RunningGateway, compat: openai.OpenAI) -> None:
    openai_error = refused(lambda: compat.chat.completions.create(model="gpt-4o-mini", messages=HELLO))
    with (
        anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client,
        pytest.raises(anthropic.BadRequestError) as caught,
    ):
        client.messages.create(model="gpt-4o-mini", max_tokens=10, messages=HELLO)

    assert openai_error.param == "model"
    error = caught.value.response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "param" not in error  # the same refusal, in Anthropic's shape as before
    assert error["field"] == "model"
