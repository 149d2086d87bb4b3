"""The text of OpenAI's chat completions that guardrails read (`texts.py`'s `TextFormat`): prose,
and the JSON arguments of tool calls. The Responses API's is `openai_responses_texts.py`'s (its
`RESPONSES_TEXTS` is named here too); completions', embeddings' and the other prompt-only
endpoints' are `openai_prompt_texts.py`'s.

Requests' `messages[].content` (a string or `text` parts; a `tool` turn's is a tool's result), the
arguments of assistant turns' `tool_calls` (and the legacy `function_call`), and what else a
request holds for the model (`openai_request_texts.py`: a message's `name` and refusal, the tools
offered, the answer's schema, the predicted output). Answers' `choices[].message` alike, its
`refusal`, and the model's thinking there: `reasoning_content` (DeepSeek's, vLLM's and the
Anthropic translation's field), `reasoning` (OpenRouter's, Groq's, vLLM's newer name), the text of
each of LiteLLM's `thinking_blocks` and of OpenRouter's `reasoning_details` (`reasoning.text`'s
`text`, `reasoning.summary`'s `summary`), signed ones losing their signature when their text
changes (texts.py's `Text.signed`). Streams' `choices[].delta.content`, `refusal`,
`reasoning_content`, `reasoning` and `tool_calls[].function.arguments` fragments, each
`reasoning_details` entry's fragments, and each whole block of a `delta.thinking_blocks`. A
request's history is read without its thinking: a signed block must go back as it came (it was
read as the answer it was).

The answer's text is JSON when the request asked for it: `response_format` of type `json_schema`
or `json_object` (a refusal stays prose).
https://platform.openai.com/docs/api-reference/chat, https://openrouter.ai/docs/use-cases/reasoning-tokens

Also what the token estimator counts of chat's and the Responses API's requests, and of
completions' and embeddings' (`TokenKeys`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sluicegate.providers.openai_request_texts import asks_json, chat_extras, message_extras
from sluicegate.providers.openai_responses_texts import RESPONSES_TEXTS as RESPONSES_TEXTS
from sluicegate.providers.openai_responses_texts import ResponsesTexts as ResponsesTexts
from sluicegate.providers.sse import sse_data
from sluicegate.providers.texts import (
    Text,
    TextPipes,
    TokenKeys,
    as_list,
    content,
    json_value,
    role_of,
    string,
)

# What a closing chunk made of what a choice's pipe still holds repeats of the last chunk.
_CHUNK_FIELDS = ("id", "object", "created", "model")
# Pipe indexes of a chat stream: a choice's content is its `index`; a tool call's arguments are
# (index, _TOOL_CALLS, the call's index), the legacy function call's (index, _FUNCTION_CALL); its
# refusal's and thinking's (index, the key in `_PROSE`); a reasoning detail's (index, _DETAILS,
# the detail's index, its type).
_TOOL_CALLS = "tool_calls"
_FUNCTION_CALL = "function_call"
_REASONING = "reasoning_content"
_PROSE = (_REASONING, "reasoning", "refusal")  # a message's (and a delta's) other prose
_DETAILS = "reasoning_details"
_DETAIL_TEXT = {"reasoning.text": "text", "reasoning.summary": "summary"}  # where a detail's is


@dataclass(frozen=True, slots=True)
class ChatTexts:
    """`json_answers`: the answers' message content is JSON text (the request's `response_format`
    asked for it)."""

    name: str = "openai_chat"
    json_answers: bool = False

    def answering(self, request: Any) -> ChatTexts:
        asked = asks_json(request, "response_format")
        return self if asked == self.json_answers else replace(self, json_answers=asked)

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for message in as_list(body.get("messages")):
            if isinstance(message, dict):
                role = role_of(message)
                yield from content(message, "content", role, ("text",))
                yield from message_extras(message, role)
                yield from _call_arguments(message, role)
        yield from chat_extras(body)

    def answer_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for choice in as_list(body.get("choices")):
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict):
                yield from _thinking(message)
                if isinstance(message.get("content"), str):
                    yield Text(message, "content", "assistant", self.json_answers)
                yield from string(message, "refusal", "assistant")
                yield from _call_arguments(message, "assistant")

    def stream_event(self, event: dict[str, Any], pipes: TextPipes) -> bytes:
        for choice in event.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            delta = choice.get("delta")
            if isinstance(delta, dict):
                _feed_thinking(index, delta, pipes)
                if isinstance(delta.get("content"), str):
                    delta["content"] = pipes.feed(index, delta["content"], json=self.json_answers)
                if delta.get("tool_calls") or delta.get("function_call"):
                    _feed_calls(index, delta, pipes)
            if choice.get("finish_reason") is not None:
                for key in _PROSE:
                    if held := pipes.close((index, key)):
                        choice["delta"] = delta = delta if isinstance(delta, dict) else {}
                        delta[key] = (delta.get(key) or "") + held
                rest = pipes.close(index)
                if rest and isinstance(delta, dict):
                    delta["content"] = (delta.get("content") or "") + rest
                for key, rest in pipes.close_where(_of(index)):
                    choice["delta"] = delta = delta if isinstance(delta, dict) else {}
                    if key[1] == _DETAILS:
                        _add_detail(delta, key, rest)
                    else:
                        _add_arguments(delta, key, rest)
        return b""

    def stream_leftover(self, index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
        delta: dict[str, Any] = {}
        if isinstance(index, tuple) and index[1] in _PROSE:
            delta[index[1]] = text
        elif isinstance(index, tuple) and index[1] == _DETAILS:
            _add_detail(delta, index, text)
        elif isinstance(index, tuple):
            _add_arguments(delta, index, text)
        else:
            delta["content"] = text
        choice = {
            "index": index[0] if isinstance(index, tuple) else index,
            "delta": delta,
            "finish_reason": None,
        }
        return sse_data({**{key: last[key] for key in _CHUNK_FIELDS if key in last}, "choices": [choice]})


def _of(index: Any) -> Callable[[Any], bool]:
    """Which pipe indexes are the tool calls and reasoning details of the choice at `index`."""
    return lambda key: isinstance(key, tuple) and key[0] == index and key[1] not in _PROSE


def _thinking(message: dict[str, Any]) -> Iterator[Text]:
    """A message's thinking: `reasoning_content`, `reasoning`, each thinking block's text and each
    reasoning detail's (signed)."""
    yield from string(message, _REASONING, "assistant")
    yield from string(message, "reasoning", "assistant")
    for block in as_list(message.get("thinking_blocks")):
        if isinstance(block, dict) and block.get("type") == "thinking":
            yield from _signed(block)
    for detail in as_list(message.get(_DETAILS)):
        kind = detail.get("type") if isinstance(detail, dict) else None
        field = _DETAIL_TEXT.get(kind) if isinstance(kind, str) else None
        if field is not None and isinstance(detail.get(field), str):
            yield Text(detail, field, "assistant", signed=bool(detail.get("signature")))


def _signed(block: dict[str, Any]) -> Iterator[Text]:
    if isinstance(block.get("thinking"), str):
        yield Text(block, "thinking", "assistant", signed=True)


def _feed_thinking(index: Any, delta: dict[str, Any], pipes: TextPipes) -> None:
    """A chunk's refusal and thinking: `refusal`, `reasoning_content` and `reasoning` each through
    the choice's pipe for it, each reasoning detail through its own; a `thinking_blocks` delta (a
    block ended, whole) closes the `reasoning_content` pipe, what it held going out in this chunk,
    and each block's text is read whole, a changed one losing its signature."""
    for key in _PROSE:
        if isinstance(delta.get(key), str):
            delta[key] = pipes.feed((index, key), delta[key])
    for position, detail in enumerate(as_list(delta.get(_DETAILS))):
        if isinstance(detail, dict) and detail.get("type") in _DETAIL_TEXT:
            _feed_detail(index, position, detail, pipes)
    blocks = [b for b in as_list(delta.get("thinking_blocks")) if isinstance(b, dict)]
    if not blocks:
        return
    if held := pipes.close((index, _REASONING)):
        delta[_REASONING] = (delta.get(_REASONING) or "") + held
    for block in blocks:
        for text in _signed(block):
            text.set(pipes.whole(text.value))


def _feed_detail(index: Any, position: int, detail: dict[str, Any], pipes: TextPipes) -> None:
    """A streamed reasoning detail's text through its pipe; a signed one ends its text (OpenRouter
    sends the signature last): what the pipe held goes in it, and a changed text's signature is ""."""
    kind = detail["type"]
    field = _DETAIL_TEXT[kind]
    key = (index, _DETAILS, detail.get("index", position), kind)
    if isinstance(detail.get(field), str):
        detail[field] = pipes.feed(key, detail[field])
    if detail.get("signature"):
        if held := pipes.close(key):
            detail[field] = (detail.get(field) or "") + held
        if pipes.altered(key):
            detail["signature"] = ""
            pipes.changed = True


def _add_detail(delta: dict[str, Any], key: tuple[Any, ...], rest: str) -> None:
    """What a reasoning detail's pipe still held, as one more detail of its index and type."""
    details = delta.get(_DETAILS)
    if not isinstance(details, list):
        details = delta[_DETAILS] = []
    details.append({"type": key[3], "index": key[2], _DETAIL_TEXT[key[3]]: rest})


def _call_arguments(message: dict[str, Any], role: str) -> Iterator[Text]:
    """The arguments of a message's tool calls and of its legacy function call (JSON texts)."""
    for call in as_list(message.get("tool_calls")):
        if isinstance(call, dict):
            yield from json_value(call.get("function"), "arguments", role)
    yield from json_value(message.get("function_call"), "arguments", role)


def _feed_calls(index: Any, delta: dict[str, Any], pipes: TextPipes) -> None:
    """A chunk's fragments of its choice's tool call arguments through their JSON pipes."""
    for call in as_list(delta.get("tool_calls")):
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            key = (index, _TOOL_CALLS, call.get("index", 0))
            function["arguments"] = pipes.feed(key, function["arguments"], json=True)
    function = delta.get("function_call")
    if isinstance(function, dict) and isinstance(function.get("arguments"), str):
        function["arguments"] = pipes.feed((index, _FUNCTION_CALL), function["arguments"], json=True)


def _add_arguments(delta: dict[str, Any], key: tuple[Any, ...], rest: str) -> None:
    """What a tool call's pipe still held, after the arguments `delta` already carries for it."""
    if key[1] == _FUNCTION_CALL:
        function = delta.get("function_call")
        if not isinstance(function, dict):
            function = delta["function_call"] = {}
    else:
        calls = delta.get("tool_calls")
        if not isinstance(calls, list):
            calls = delta["tool_calls"] = []
        call = next((c for c in calls if isinstance(c, dict) and c.get("index", 0) == key[2]), None)
        if call is None:
            call = {"index": key[2], "function": {}}
            calls.append(call)
        if not isinstance(call.get("function"), dict):
            call["function"] = {}
        function = call["function"]
    function["arguments"] = (function.get("arguments") or "") + rest


CHAT_TEXTS = ChatTexts()

# Chat: the `messages` turns, `text` parts (`image_url` ones count as images), tool calls' `function`
# with its `name` and `arguments`; the `tools` offered (and the legacy `functions`), which the model
# reads too, as their JSON.
CHAT_TOKEN_KEYS = TokenKeys(
    turns=frozenset({"messages"}),
    text=frozenset({"content", "text", "function", "name", "arguments"}),
    image_types=frozenset({"image_url"}),
    schemas=frozenset({"tools", "functions"}),
)
# Responses: `instructions`, `input` (a string or items), message items' `content` parts (`input_image`
# ones count as images), function call items' `name` and `arguments`, their results' `output`; the
# `tools` offered, as their JSON.
RESPONSES_TOKEN_KEYS = TokenKeys(
    text=frozenset({"instructions", "input", "content", "text", "name", "arguments", "output"}),
    image_types=frozenset({"input_image"}),
    schemas=frozenset({"tools"}),
)
COMPLETIONS_TOKEN_KEYS = TokenKeys(text=frozenset({"prompt"}))
EMBEDDINGS_TOKEN_KEYS = TokenKeys(text=frozenset({"input"}))  # strings, or lists of token ids
