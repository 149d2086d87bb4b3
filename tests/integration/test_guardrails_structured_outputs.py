"""Guardrails on structured outputs, over loopback with the official openai SDK: an answer the
request asked to be JSON (`response_format` json_schema or json_object; through compat, Claude's
forced `json_answer` tool and a Responses `text.format`) is read value by value, whole and
streamed, so that it stays valid JSON and the SDK's `parse` still gets its object."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI

EMAIL = "bob@example.com"
# Read raw, the escaped line break (`\n` in the JSON text) glues an `n` to the address.
TEXT = f"to:\n{EMAIL}"
REDACTED = "to:\n[EMAIL_1]"
ANSWER_ONLY = {"pii": {"action": "redact", "entities": ["credit_card", "email"], "direction": "response"}}
CLAUDE = "anthropic/claude-sonnet-4-5"


class Note(BaseModel):
    note: str
    words: int  # the fake's integers: the user text's word count


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as server:
        yield server


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, claude: FakeAnthropic
) -> RunningGateway:
    gateway = make_gateway(upstreams={"openai": fake.base_url, "anthropic": claude.base_url})
    gateway.configure(guardrails=ANSWER_ONLY)
    return gateway


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def compat(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as sdk:
        yield sdk


def parsed(client: openai.OpenAI, model: str, stream: bool, text: str = TEXT) -> tuple[Note, str]:
    """The answer's parsed object and its content, by `parse` or by the streaming helper."""
    messages: Any = [{"role": "user", "content": text}]
    if not stream:
        message = client.chat.completions.parse(model=model, messages=messages, response_format=Note)
        answer = message.choices[0].message
    else:
        with client.chat.completions.stream(model=model, messages=messages, response_format=Note) as events:
            pieces = [event.delta for event in events if event.type == "content.delta"]
            answer = events.get_final_completion().choices[0].message
        assert len(pieces) > 1
        assert "".join(pieces) == answer.content
    assert answer.parsed is not None
    return answer.parsed, answer.content or ""


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_parse_gets_the_object_with_the_placeholder(
    gateway: RunningGateway, client: openai.OpenAI, stream: bool
) -> None:
    note, content = parsed(client, "gpt-4o", stream)
    assert note == Note(note=REDACTED, words=2)
    assert EMAIL not in content
    (record,) = gateway.wait_for_logs(1)
    assert record["metadata"]["guardrails"] == "response:redact:email"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_json_mode_answer_stays_json(client: openai.OpenAI, stream: bool) -> None:
    messages: Any = [{"role": "user", "content": TEXT}]
    options: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": messages,
        "response_format": {"type": "json_object"},
    }
    if stream:
        chunks = client.chat.completions.create(stream=True, **options)
        content = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    else:
        content = client.chat.completions.create(**options).choices[0].message.content or ""
    assert json.loads(content) == {"input": REDACTED}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_claude_s_answer_tool_through_compat_is_read_as_json(compat: openai.OpenAI, stream: bool) -> None:
    # Claude answers with a forced json_answer tool, whose input the compat endpoint renders as the
    # chat answer's content: what the guardrails read.
    note, _ = parsed(compat, CLAUDE, stream)
    assert note == Note(note=REDACTED, words=2)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_responses_request_through_compat_gets_its_object(compat: openai.OpenAI, stream: bool) -> None:
    # The Responses request is translated to chat (text.format → response_format) and its answer,
    # read as chat by the guardrails, rendered back as a Responses answer.
    if stream:
        with compat.responses.stream(model=CLAUDE, input=TEXT, text_format=Note) as events:
            answer = events.get_final_response()
    else:
        answer = compat.responses.parse(model=CLAUDE, input=TEXT, text_format=Note)
    assert answer.output_parsed == Note(note=REDACTED, words=2)


def test_a_value_restored_in_a_json_answer_is_written_as_json(
    gateway: RunningGateway, fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    # The model only saw the placeholder; the key it stands for has line breaks, which inside the
    # answer's JSON text must be escaped.
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nq83==\n-----END RSA PRIVATE KEY-----"
    gateway.configure(guardrails={"pii": {"action": "redact", "entities": ["secret"]}, "restore": True})
    note, _ = parsed(client, "gpt-4o", stream=False, text=f"keep {key}")
    assert "MIIEowIBAAKCAQEA" not in fake.requests[0].body.decode()
    assert note.note == f"keep {key}"
