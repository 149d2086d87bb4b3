"""The text of OpenAI's chat completions and Responses API that guardrails read (`texts.py`'s
`TextFormat`): prose, and the JSON arguments of tool calls.

Chat: requests' `messages[].content` (a string or `text` parts; a `tool` turn's is a tool's
result) and the arguments of assistant turns' `tool_calls` (and the legacy `function_call`);
answers' `choices[].message` alike, and the model's thinking there: `reasoning_content` (DeepSeek's,
vLLM's and the Anthropic translation's field) and the text of each of LiteLLM's `thinking_blocks`,
signed (a block whose text changes loses its signature: texts.py's `Text.signed`); streams'
`choices[].delta.content`, `delta.reasoning_content` and `delta.tool_calls[].function.arguments`
fragments, and each whole block of a `delta.thinking_blocks`. A request's history is read without
its thinking: a signed block must go back as it came (it was read as the answer it was).

Responses: requests' `instructions` and `input` (a string, or message items with
`input_text`/`output_text` parts, `function_call` items' arguments, `function_call_output`
items' output, custom tool calls' input and output), answers' `output[]` items alike and
reasoning items' summary and reasoning text; streams' `output_text`, `reasoning_summary_text`,
`reasoning_text`, `function_call_arguments` and `custom_tool_call_input` deltas, and the whole
texts their `done` events, `output_item.done` and `completed` repeat. A reasoning item's
`encrypted_content` is the provider's: unreadable (OpenAI's), or signed blocks whose every text
was read as the chat answer it came from (the compat endpoint's).

The answer's text is JSON when the request asked for it: chat's `response_format`, Responses'
`text.format`, of type `json_schema` or `json_object`.
https://platform.openai.com/docs/api-reference/chat, https://platform.openai.com/docs/api-reference/responses

Also what the token estimator counts of these APIs' requests, and of completions' and embeddings'
(`TokenKeys`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

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
    text_parts,
)

# What a closing chunk made of what a choice's pipe still holds repeats of the last chunk.
_CHUNK_FIELDS = ("id", "object", "created", "model")
# Pipe indexes of a chat stream: a choice's content is its `index`; a tool call's arguments are
# (index, _TOOL_CALLS, the call's index), the legacy function call's (index, _FUNCTION_CALL), its
# thinking's (index, _REASONING).
_TOOL_CALLS = "tool_calls"
_FUNCTION_CALL = "function_call"
_REASONING = "reasoning_content"
# The formats whose answer is JSON text: a schema's (structured outputs) or any object (JSON mode).
# https://platform.openai.com/docs/guides/structured-outputs
JSON_FORMATS = frozenset({"json_schema", "json_object"})


def _asks_json(owner: Any, key: str) -> bool:
    """Whether `owner[key]` is a format object of one of `JSON_FORMATS`."""
    value = owner.get(key) if isinstance(owner, dict) else None
    return isinstance(value, dict) and value.get("type") in JSON_FORMATS


@dataclass(frozen=True, slots=True)
class ChatTexts:
    """`json_answers`: the answers' message content is JSON text (the request's `response_format`
    asked for it)."""

    name: str = "openai_chat"
    json_answers: bool = False

    def answering(self, request: Any) -> ChatTexts:
        asked = _asks_json(request, "response_format")
        return self if asked == self.json_answers else replace(self, json_answers=asked)

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for message in as_list(body.get("messages")):
            if isinstance(message, dict):
                role = role_of(message)
                yield from content(message, "content", role, ("text",))
                yield from _call_arguments(message, role)

    def answer_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for choice in as_list(body.get("choices")):
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict):
                yield from _thinking(message)
                if isinstance(message.get("content"), str):
                    yield Text(message, "content", "assistant", self.json_answers)
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
                if thought := pipes.close((index, _REASONING)):
                    choice["delta"] = delta = delta if isinstance(delta, dict) else {}
                    delta[_REASONING] = (delta.get(_REASONING) or "") + thought
                rest = pipes.close(index)
                if rest and isinstance(delta, dict):
                    delta["content"] = (delta.get("content") or "") + rest
                calls = pipes.close_where(_calls_of(index))
                if calls:
                    choice["delta"] = delta = delta if isinstance(delta, dict) else {}
                    for key, rest in calls:
                        _add_arguments(delta, key, rest)
        return b""

    def stream_leftover(self, index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
        if isinstance(index, tuple) and index[1] == _REASONING:
            choice = {"index": index[0], "delta": {_REASONING: text}, "finish_reason": None}
        elif isinstance(index, tuple):
            delta: dict[str, Any] = {}
            _add_arguments(delta, index, text)
            choice = {"index": index[0], "delta": delta, "finish_reason": None}
        else:
            choice = {"index": index, "delta": {"content": text}, "finish_reason": None}
        return sse_data({**{key: last[key] for key in _CHUNK_FIELDS if key in last}, "choices": [choice]})


def _calls_of(index: Any) -> Callable[[Any], bool]:
    """Which pipe indexes are the tool calls of the choice at `index`."""
    return lambda key: isinstance(key, tuple) and key[0] == index and key[1] != _REASONING


def _thinking(message: dict[str, Any]) -> Iterator[Text]:
    """A message's thinking: `reasoning_content`, and each thinking block's text (signed)."""
    yield from string(message, _REASONING, "assistant")
    for block in as_list(message.get("thinking_blocks")):
        if isinstance(block, dict) and block.get("type") == "thinking":
            yield from _signed(block)


def _signed(block: dict[str, Any]) -> Iterator[Text]:
    if isinstance(block.get("thinking"), str):
        yield Text(block, "thinking", "assistant", signed=True)


def _feed_thinking(index: Any, delta: dict[str, Any], pipes: TextPipes) -> None:
    """A chunk's thinking: `reasoning_content` through the choice's thinking pipe; a
    `thinking_blocks` delta (a block ended, whole) closes that pipe, what it held going out in this
    chunk, and each block's text is read whole, a changed one losing its signature."""
    if isinstance(delta.get(_REASONING), str):
        delta[_REASONING] = pipes.feed((index, _REASONING), delta[_REASONING])
    blocks = [b for b in as_list(delta.get("thinking_blocks")) if isinstance(b, dict)]
    if not blocks:
        return
    if held := pipes.close((index, _REASONING)):
        delta[_REASONING] = (delta.get(_REASONING) or "") + held
    for block in blocks:
        for text in _signed(block):
            text.set(pipes.whole(text.value))


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


@dataclass(frozen=True, slots=True)
class ResponsesTexts:
    """`json_answers`: the answers' output text is JSON text (the request's `text.format` asked
    for it)."""

    name: str = "openai_responses"
    json_answers: bool = False

    def answering(self, request: Any) -> ResponsesTexts:
        asked = _asks_json(request.get("text") if isinstance(request, dict) else None, "format")
        return self if asked == self.json_answers else replace(self, json_answers=asked)

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        yield from string(body, "instructions", "system")
        if isinstance(body.get("input"), str):
            yield Text(body, "input", "user")
            return
        for item in as_list(body.get("input")):
            # A reasoning item sent back is not read: the model reads its encrypted_content, not
            # its summary, which was read as the answer it came in.
            if isinstance(item, dict) and item.get("type") != "reasoning":
                yield from _item_texts(item, role_of(item))

    def answer_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for item in as_list(body.get("output")):
            if isinstance(item, dict) and item.get("type") in _OUTPUT_ITEMS:
                yield from _item_texts(item, "assistant", json=self.json_answers)

    def stream_event(self, event: dict[str, Any], pipes: TextPipes) -> bytes:
        kind = event.get("type")
        delta = event.get("delta")
        if isinstance(kind, str) and kind in _DELTAS and isinstance(delta, str):
            key = _key(kind, event)
            event["delta"] = pipes.feed(key, delta, json=self._json(key))
            return b""
        before = b""
        done = _DONES.get(kind) if isinstance(kind, str) else None
        if isinstance(kind, str) and done is not None:
            key = _key(kind, event)
            before = _delta_event(key, pipes.close(key), event)
            if isinstance(event.get(done), str):
                event[done] = pipes.whole(event[done], json=self._json(key))
        part = event.get("part")
        if (
            kind in ("response.content_part.done", "response.reasoning_summary_part.done")
            and isinstance(part, dict)
            and isinstance(part.get("text"), str)
        ):
            json = self.json_answers and kind == "response.content_part.done"
            part["text"] = pipes.whole(part["text"], json=json)
        item = event.get("item")
        if kind == "response.output_item.done" and isinstance(item, dict):
            for text in self.answer_texts({"output": [item]}):
                text.set(pipes.whole(text.value, json=text.json))
        if isinstance(event.get("response"), dict):  # created, in_progress, completed, incomplete
            for text in self.answer_texts(event["response"]):
                text.set(pipes.whole(text.value, json=text.json))
        return before

    def stream_leftover(self, index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
        assert isinstance(index, tuple), "this format's pipe indexes are tuples"
        return _delta_event(index, text, {})

    def _json(self, key: tuple[Any, ...]) -> bool:
        """Whether the text at a pipe index is JSON: a function call's arguments, and the output
        text of a JSON answer."""
        return key[0] == _ARGUMENTS or (key[0] == _TEXT and self.json_answers)


# Pipe indexes of a Responses stream: an output text part's is (_TEXT, output_index,
# content_index), a reasoning summary part's (_SUMMARY, output_index, summary_index), a reasoning
# text part's (_THOUGHT, output_index, content_index), a function call's arguments'
# (_ARGUMENTS, output_index), a custom tool call's input's (_INPUT, output_index).
_TEXT, _SUMMARY, _THOUGHT, _ARGUMENTS, _INPUT = (
    "response.output_text",
    "response.reasoning_summary_text",
    "response.reasoning_text",
    "response.function_call_arguments",
    "response.custom_tool_call_input",
)
_PART_INDEX = {_TEXT: "content_index", _SUMMARY: "summary_index", _THOUGHT: "content_index"}
_DELTAS = frozenset(f"{kind}.delta" for kind in (_TEXT, _SUMMARY, _THOUGHT, _ARGUMENTS, _INPUT))
_DONES = {
    **{f"{kind}.done": "text" for kind in (_TEXT, _SUMMARY, _THOUGHT)},
    f"{_ARGUMENTS}.done": "arguments",
    f"{_INPUT}.done": "input",
}
_OUTPUT_ITEMS = frozenset({"message", "function_call", "custom_tool_call", "reasoning"})


def _item_texts(item: dict[str, Any], role: str, *, json: bool = False) -> Iterator[Text]:
    """The text of one input or output item: a message's text parts (JSON texts with `json`), a
    tool call's arguments (JSON) or input, a tool call's output (a string, or text parts)."""
    kind = item.get("type", "message")
    if kind == "message":
        yield from content(item, "content", role, ("input_text", "output_text", "text"), json=json)
    elif kind == "function_call":
        yield from json_value(item, "arguments", "assistant")
    elif kind == "custom_tool_call":
        yield from string(item, "input", "assistant")
    elif kind in ("function_call_output", "custom_tool_call_output"):
        yield from content(item, "output", "tool", ("input_text",))
    elif kind == "reasoning":
        yield from text_parts(item.get("summary"), ("summary_text",), "assistant")
        yield from text_parts(item.get("content"), ("reasoning_text",), "assistant")


def _key(kind: str, event: Mapping[str, Any]) -> tuple[Any, ...]:
    """The pipe index of a delta or done event (see above)."""
    family = kind.rpartition(".")[0]
    if family in _PART_INDEX:
        return (family, event.get("output_index", 0), event.get(_PART_INDEX[family], 0))
    return (family, event.get("output_index", 0))


def _delta_event(key: tuple[Any, ...], text: str, event: Mapping[str, Any]) -> bytes:
    """What a pipe still held, as one more delta of its part or tool call (none for no text); `key`
    is its pipe's index, `event` the done event it goes before (its item id and number)."""
    if not text:
        return b""
    kind = f"{key[0]}.delta"
    delta: dict[str, Any] = {"type": kind, "item_id": event.get("item_id"), "output_index": key[1]}
    if key[0] in _PART_INDEX:
        delta[_PART_INDEX[key[0]]] = key[2]
    delta |= {"delta": text, "sequence_number": event.get("sequence_number")}
    return sse_data(delta, kind)


CHAT_TEXTS = ChatTexts()
RESPONSES_TEXTS = ResponsesTexts()

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
