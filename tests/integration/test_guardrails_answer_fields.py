"""Response guardrails read every text of an answer, whole and streamed, over loopback with the
official SDKs: OpenAI chat's refusal and OpenRouter's (and Groq's) `reasoning` and
`reasoning_details`, the Responses API's refusal parts and events, completions' text, DALL·E's
revised prompt, Anthropic's text and tool input already in a stream's `content_block_start`, its
blocks of a type not known here, its legacy Text Completions, and Gemini's code execution parts and
snake_case function calls."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from tests.conftest import RunningGateway
from tests.fakes.scripted_server import Scripted

CARD = "4111 1111 1111 1111"  # Luhn-valid
REDACTED = "card [CREDIT_CARD_1] ok"
HI: Any = [{"role": "user", "content": "hi"}]
CHUNK = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}


@pytest.fixture
def upstream() -> Iterator[Scripted]:
    with Scripted().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], upstream: Scripted) -> RunningGateway:
    upstreams = {"openai": upstream.url + "/v1", "anthropic": upstream.url, "google-ai-studio": upstream.url}
    gateway = make_gateway(upstreams=upstreams)
    gateway.configure(
        guardrails={"pii": {"action": "redact", "entities": ["credit_card"], "direction": "response"}}
    )
    return gateway


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def claude(gateway: RunningGateway) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gateway.provider_url("anthropic"), api_key="k", max_retries=0) as sdk:
        yield sdk


def pieces(text: str, size: int = 7) -> list[str]:
    """`text` cut every `size` characters: a card is split across events."""
    return [text[at : at + size] for at in range(0, len(text), size)]


def chunks(deltas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A chat stream of `deltas`, then its finishing chunk."""
    events = [CHUNK | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]} for delta in deltas]
    return [*events, CHUNK | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]


def chat_answer(message: dict[str, Any]) -> dict[str, Any]:
    choice = {"index": 0, "message": {"role": "assistant"} | message, "finish_reason": "stop"}
    return CHUNK | {"object": "chat.completion", "choices": [choice]}


def test_a_chat_refusal_is_redacted_whole_and_streamed(client: openai.OpenAI, upstream: Scripted) -> None:
    upstream.reply_json(chat_answer({"content": None, "refusal": f"card {CARD} ok"}))
    assert (
        client.chat.completions.create(model="gpt-4o-mini", messages=HI).choices[0].message.refusal
        == REDACTED
    )
    upstream.reply_events(chunks([{"refusal": piece} for piece in pieces(f"card {CARD} ok")]), done=True)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
    assert "".join(chunk.choices[0].delta.refusal or "" for chunk in stream) == REDACTED


def test_openrouter_s_reasoning_and_reasoning_details_are_redacted(
    client: openai.OpenAI, upstream: Scripted
) -> None:
    detail = {"type": "reasoning.text", "text": f"card {CARD} ok", "signature": "sig", "index": 0}
    summary = {"type": "reasoning.summary", "summary": f"card {CARD} ok", "index": 1}
    upstream.reply_json(
        chat_answer(
            {"content": "done", "reasoning": f"card {CARD} ok", "reasoning_details": [detail, summary]}
        )
    )
    message = client.chat.completions.create(model="gpt-4o-mini", messages=HI).choices[0].message
    extra = message.model_extra or {}
    assert extra["reasoning"] == REDACTED
    assert extra["reasoning_details"] == [
        detail | {"text": REDACTED, "signature": ""},  # it no longer vouches for the text
        summary | {"summary": REDACTED},
    ]


def test_streamed_reasoning_and_its_details_are_redacted_and_a_changed_detail_unsigned(
    client: openai.OpenAI, upstream: Scripted
) -> None:
    deltas: list[dict[str, Any]] = [
        {"reasoning": piece, "reasoning_details": [{"type": "reasoning.text", "text": piece, "index": 0}]}
        for piece in pieces(f"card {CARD} ok")
    ]
    deltas.append(
        {"reasoning_details": [{"type": "reasoning.text", "text": "", "signature": "sig", "index": 0}]}
    )
    upstream.reply_events(chunks([*deltas, {"content": "done"}]), done=True)
    thought, details = "", []
    for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True):
        for choice in chunk.choices:
            extra = choice.delta.model_extra or {}
            thought += extra.get("reasoning") or ""
            details += extra.get("reasoning_details") or []
    assert thought == REDACTED
    assert "".join(detail.get("text", "") for detail in details) == REDACTED
    assert [detail["signature"] for detail in details if "signature" in detail] == [""]


def test_groq_s_reasoning_is_redacted_when_the_stream_ends_without_a_finish_reason(
    client: openai.OpenAI, upstream: Scripted
) -> None:
    events = [
        CHUNK | {"choices": [{"index": 0, "delta": {"reasoning": p}, "finish_reason": None}]}
        for p in pieces(f"card {CARD} ok")
    ]
    upstream.reply_events(events, done=True)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
    assert "".join((c.choices[0].delta.model_extra or {}).get("reasoning") or "" for c in stream) == REDACTED


def test_a_responses_refusal_is_redacted_whole_and_streamed(
    client: openai.OpenAI, upstream: Scripted
) -> None:
    part = {"type": "refusal", "refusal": f"card {CARD} ok"}
    item = {"type": "message", "id": "m1", "role": "assistant", "status": "completed", "content": [part]}
    response = {
        "id": "r1",
        "object": "response",
        "created_at": 1,
        "model": "gpt-4o-mini",
        "status": "completed",
    }
    response |= {"output": [item], "tool_choice": "auto", "tools": [], "parallel_tool_calls": True}
    upstream.reply_json(response)
    answer = client.responses.create(model="gpt-4o-mini", input="hi")
    assert answer.output[0].content[0].refusal == REDACTED  # type: ignore[union-attr]
    where = {"item_id": "m1", "output_index": 0, "content_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.refusal.delta", **where, "delta": piece} for piece in pieces(f"card {CARD} ok")
    ]
    events += [
        {"type": "response.refusal.done", **where, "refusal": f"card {CARD} ok"},
        {"type": "response.content_part.done", **where, "part": part},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": response},
    ]
    upstream.reply_events([event | {"sequence_number": n} for n, event in enumerate(events)], named=True)
    streamed = list(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))
    deltas = "".join(event.delta for event in streamed if event.type == "response.refusal.delta")
    assert deltas == REDACTED
    assert all(CARD not in event.model_dump_json() for event in streamed)
    assert streamed[-1].response.output[0].content[0].refusal == REDACTED  # type: ignore[union-attr]


def test_completions_text_is_redacted_whole_and_streamed(client: openai.OpenAI, upstream: Scripted) -> None:
    head = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "gpt-3.5-turbo-instruct"}
    choice = {"index": 0, "text": f"card {CARD} ok", "logprobs": None, "finish_reason": "stop"}
    upstream.reply_json(head | {"choices": [choice]})
    assert client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi").choices[0].text == REDACTED
    events = [
        head | {"choices": [{**choice, "text": p, "finish_reason": None}]} for p in pieces(f"card {CARD} ok")
    ]
    upstream.reply_events(
        [*events, head | {"choices": [{**choice, "text": "", "finish_reason": "stop"}]}], done=True
    )
    stream = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi", stream=True)
    assert "".join(chunk.choices[0].text for chunk in stream) == REDACTED


def test_dall_e_s_revised_prompt_is_redacted(client: openai.OpenAI, upstream: Scripted) -> None:
    upstream.reply_json(
        {"created": 1, "data": [{"url": "https://x/1.png", "revised_prompt": f"card {CARD} ok"}]}
    )
    assert client.images.generate(model="dall-e-3", prompt="a card").data[0].revised_prompt == REDACTED  # type: ignore[index]


def claude_events(start: dict[str, Any], *deltas: dict[str, Any]) -> list[dict[str, Any]]:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [],
    }
    message |= {"stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 0}}
    return [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": start},
        *({"type": "content_block_delta", "index": 0, "delta": delta} for delta in deltas),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}},
        {"type": "message_stop"},
    ]


def claude_stream(claude: anthropic.Anthropic) -> Any:
    with claude.messages.stream(model="claude-sonnet-4-6", max_tokens=50, messages=HI) as stream:
        return stream.get_final_message()


def test_text_and_tool_input_in_a_claude_block_s_start_are_redacted(
    claude: anthropic.Anthropic, upstream: Scripted
) -> None:
    text = {"type": "text", "text": "card 4111 1111"}
    upstream.reply_events(claude_events(text, {"type": "text_delta", "text": " 1111 1111 ok"}), named=True)
    assert claude_stream(claude).content[0].text == REDACTED
    call = {"type": "tool_use", "id": "toolu_1", "name": "save", "input": {"card": CARD}}
    upstream.reply_events(claude_events(call), named=True)
    assert claude_stream(claude).content[0].input == {"card": "[CREDIT_CARD_1]"}


def test_the_text_of_a_claude_block_of_a_type_not_known_here_is_redacted(
    claude: anthropic.Anthropic, upstream: Scripted
) -> None:
    answer = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6"}
    answer |= {"content": [{"type": "future_block", "text": f"card {CARD} ok"}], "stop_reason": "end_turn"}
    upstream.reply_json(answer | {"stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 5}})
    raw = claude.messages.with_raw_response.create(model="claude-sonnet-4-6", max_tokens=50, messages=HI)
    assert raw.http_response.json()["content"][0]["text"] == REDACTED


def test_claude_s_legacy_text_completions_are_redacted_whole_and_streamed(
    claude: anthropic.Anthropic, upstream: Scripted
) -> None:
    body = {"model": "claude-2.1", "max_tokens_to_sample": 50, "prompt": "\n\nHuman: hi\n\nAssistant:"}
    head = {"type": "completion", "id": "compl_1", "model": "claude-2.1"}
    upstream.reply_json(head | {"completion": f"card {CARD} ok", "stop_reason": "stop_sequence"})
    answer: Any = claude.post("/v1/complete", body=body, cast_to=object)
    assert answer["completion"] == REDACTED
    events = [head | {"completion": p, "stop_reason": None} for p in pieces(f"card {CARD} ok")]
    upstream.reply_events([*events, head | {"completion": "", "stop_reason": "stop_sequence"}], named=True)
    stream: Any = claude.post(
        "/v1/complete",
        body=body | {"stream": True},
        cast_to=object,
        stream=True,
        stream_cls=anthropic.Stream[object],
    )
    with stream:
        assert "".join(event["completion"] for event in stream) == REDACTED


def test_gemini_s_code_execution_parts_and_snake_case_calls_are_redacted(
    gateway: RunningGateway, upstream: Scripted
) -> None:
    parts = [
        {"executableCode": {"language": "PYTHON", "code": f"print('{CARD}')"}},
        {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": f"card {CARD} ok"}},
        {"function_call": {"name": "save", "args": {"card": CARD}}},
    ]
    candidate = {"index": 0, "content": {"role": "model", "parts": parts}, "finishReason": "STOP"}
    upstream.reply_events([{"candidates": [candidate], "modelVersion": "gemini-2.5-flash"}])
    options = types.HttpOptions(base_url=gateway.provider_url("google-ai-studio"), api_version="v1beta")
    with genai.Client(api_key="AIzaSy-fake", http_options=options) as sdk:
        (chunk,) = sdk.models.generate_content_stream(model="gemini-2.5-flash", contents="hi")
    code, result, call = chunk.candidates[0].content.parts  # type: ignore[index, union-attr]
    assert code.executable_code.code == "print('[CREDIT_CARD_1]')"  # type: ignore[union-attr]
    assert result.code_execution_result.output == REDACTED  # type: ignore[union-attr]
    assert call.function_call.args == {"card": "[CREDIT_CARD_1]"}  # type: ignore[union-attr]
    assert CARD not in json.dumps(chunk.model_dump(mode="json"))
