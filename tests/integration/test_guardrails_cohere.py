"""Guardrails read Cohere's native v2 chat (`/v2/chat`) as they read the other providers' answers:
the answer's text, thinking, tool plan, tool call arguments and citations, whole and streamed (SSE,
a pipe per content index: a secret split across `content-delta` events is caught), with the same
redact, block and restore; and the request's messages (string or content parts, tool results'
documents) and documents. Through the official `cohere` SDK against the fake Cohere on loopback.
v1 is tests/integration/test_guardrails_cohere_v1.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import cohere
import httpx
import pytest
from cohere.errors import BadRequestError

from tests.conftest import RunningGateway
from tests.fakes.cohere_server import FakeCohere

API_KEY = "co-0123456789abcdef"
MODEL = "command-a-03-2025"
# A private key pasted on one line: the fake echoes it a word an event, so it spans seven.
KEY = (
    "-----BEGIN PRIVATE KEY----- MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
    " -----END PRIVATE KEY-----"
)
ASKED = f"my key is {KEY} thanks"
SAID = "my key is [SECRET_1] thanks"
ANSWER = f"echo: {SAID}"
SECRET_RULE = {"entities": ["secret"], "direction": "response"}
REDACT = {"pii": {"action": "redact", **SECRET_RULE}}
BLOCK = {"pii": {"action": "block", **SECRET_RULE}}
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {"name": "save_note", "parameters": {"type": "object", "properties": {}}},
    }
]


@pytest.fixture
def upstream() -> Iterator[FakeCohere]:
    with FakeCohere(api_key=API_KEY).serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], upstream: FakeCohere) -> RunningGateway:
    return make_gateway(upstreams={"cohere": upstream.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[cohere.ClientV2]:
    with httpx.Client(timeout=10) as http:
        yield cohere.ClientV2(
            api_key=API_KEY, base_url=gateway.provider_url("cohere"), httpx_client=http, max_retries=0
        )


def user(text: str = ASKED) -> list[Any]:
    return [{"role": "user", "content": text}]


def streamed(client: cohere.ClientV2, **asked: Any) -> list[dict[str, Any]]:
    """The stream's events as the SDK parsed them, as plain objects."""
    return [event.dict() for event in client.chat_stream(model=MODEL, **asked)]


def deltas(events: list[dict[str, Any]], kind: str, *path: str) -> list[str]:
    """What each event of `kind` says at `path` (under `delta.message`)."""
    said = []
    for event in events:
        if event["type"] == kind:
            value: Any = event["delta"]["message"]
            for key in path:
                value = value[key]
            said.append(value)
    return said


def test_a_whole_answer_is_redacted(gateway: RunningGateway, client: cohere.ClientV2) -> None:
    gateway.configure(guardrails=REDACT)
    answer = client.chat(model=MODEL, messages=user())
    assert answer.message.content is not None
    assert [part.text for part in answer.message.content if part.type == "text"] == [ANSWER]
    record = gateway.wait_for_logs(1)[0]
    assert "response:redact:secret" in record["metadata"]["guardrails"]


def test_a_secret_split_across_content_deltas_is_redacted_as_it_passes(
    gateway: RunningGateway, client: cohere.ClientV2
) -> None:
    gateway.configure(guardrails=REDACT)
    events = streamed(client, messages=user())
    pieces = deltas(events, "content-delta", "content", "text")
    assert "".join(pieces) == ANSWER
    assert "MIIEvQ" not in json.dumps(events)
    # Held back only while a match may span them: the words before the key go out as they come
    # (each held until the next begins), what the pipe held at content-end in a delta before it.
    assert "".join(pieces[:5]) == "echo: my key is "
    assert pieces[-1] == "[SECRET_1] thanks"
    assert [e["type"] for e in events][-2:] == ["content-end", "message-end"]
    record = gateway.wait_for_logs(1)[0]
    assert "response:redact:secret" in record["metadata"]["guardrails"]


def test_a_block_rule_refuses_a_whole_answer_and_redacts_a_stream(
    gateway: RunningGateway, client: cohere.ClientV2
) -> None:
    gateway.configure(guardrails=BLOCK)
    with pytest.raises(BadRequestError) as refused:
        client.chat(model=MODEL, messages=user())
    assert refused.value.body["error"]["code"] == "guardrail_blocked"
    assert refused.value.body["error"]["cloudflare_code"] == 2017
    assert "MIIEvQ" not in json.dumps(refused.value.body)
    events = streamed(client, messages=user())  # what was sent cannot be withdrawn: redacted
    assert "".join(deltas(events, "content-delta", "content", "text")) == ANSWER


def test_thinking_is_read_as_the_answer_is(gateway: RunningGateway, client: cohere.ClientV2) -> None:
    gateway.configure(guardrails=REDACT)
    thinking: Any = {"type": "enabled"}
    answer = client.chat(model=MODEL, messages=user(), thinking=thinking)
    assert answer.message.content is not None
    assert [part.dict() for part in answer.message.content] == [
        {"type": "thinking", "thinking": f"The user wrote: {SAID}"},
        {"type": "text", "text": ANSWER},
    ]
    events = streamed(client, messages=user(), thinking=thinking)
    assert "MIIEvQ" not in json.dumps(events)
    thought = [e for e in events if e["type"] == "content-delta" and e["index"] == 0]
    assert "".join(e["delta"]["message"]["content"]["thinking"] for e in thought) == f"The user wrote: {SAID}"
    text = [e for e in events if e["type"] == "content-delta" and e["index"] == 1]
    assert "".join(e["delta"]["message"]["content"]["text"] for e in text) == ANSWER


def test_tool_plan_and_call_arguments_are_redacted_whole_and_streamed(
    gateway: RunningGateway, client: cohere.ClientV2
) -> None:
    gateway.configure(guardrails=REDACT)
    answer = client.chat(model=MODEL, messages=user(), tools=TOOLS)
    assert answer.message.tool_plan == f"I will save: {ASKED.replace(KEY, '[SECRET_1]')}"
    (call,) = answer.message.tool_calls or []
    assert call.function is not None
    assert call.function.arguments is not None
    assert json.loads(call.function.arguments) == {"note": SAID}
    events = streamed(client, messages=user(), tools=TOOLS)
    assert "MIIEvQ" not in json.dumps(events)
    assert "".join(deltas(events, "tool-plan-delta", "tool_plan")) == f"I will save: {SAID}"
    arguments = "".join(
        deltas(events, "tool-call-start", "tool_calls", "function", "arguments")
        + deltas(events, "tool-call-delta", "tool_calls", "function", "arguments")
    )
    assert json.loads(arguments) == {"note": SAID}  # still JSON, the key's fragments redacted
    kinds = [e["type"] for e in events]
    assert kinds.index("tool-call-start") > max(i for i, k in enumerate(kinds) if k == "tool-plan-delta")
    assert kinds[-2:] == ["tool-call-end", "message-end"]


def test_a_citation_quoting_the_answer_is_redacted(gateway: RunningGateway, client: cohere.ClientV2) -> None:
    gateway.configure(guardrails=REDACT)
    documents: list[Any] = [{"data": {"title": "notes"}, "id": "doc:0"}]
    answer = client.chat(model=MODEL, messages=user(), documents=documents)
    assert [citation.text for citation in answer.message.citations or []] == [ANSWER]
    events = streamed(client, messages=user(), documents=documents)
    assert "MIIEvQ" not in json.dumps(events)
    assert deltas(events, "citation-start", "citations", "text") == [ANSWER]


def test_the_request_is_redacted_upstream_and_restored_in_the_answer(
    gateway: RunningGateway, upstream: FakeCohere, client: cohere.ClientV2
) -> None:
    gateway.configure(guardrails={"pii": {"action": "redact", "entities": ["email"]}, "restore": True})
    messages: list[Any] = [
        {"role": "system", "content": [{"type": "text", "text": "cc admin@example.org"}]},
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "tool_plan": "ask dave@example.com",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "f", "arguments": '{"to": "eve@example.com"}'},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "c1",
            "content": [{"type": "document", "document": {"data": {"owner": "frank@example.com"}}}],
        },
        {"role": "user", "content": [{"type": "text", "text": "write to carol@example.net"}]},
    ]
    documents: list[Any] = ["grace@example.com wrote", {"data": {"from": "heidi@example.com"}}]
    answer = client.chat(model=MODEL, messages=messages, documents=documents)
    sent = upstream.requests[0].body.decode()
    for address in ("admin@", "dave@", "eve@", "frank@", "carol@", "grace@", "heidi@"):
        assert address not in sent
    assert "[EMAIL_5]" in sent
    assert answer.message.content is not None
    assert answer.message.content[0].dict()["text"] == "echo: write to carol@example.net"
    events = streamed(client, messages=messages, documents=documents)
    assert "".join(deltas(events, "content-delta", "content", "text")) == "echo: write to carol@example.net"
