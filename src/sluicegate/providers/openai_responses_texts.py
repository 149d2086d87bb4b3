"""The text of OpenAI's Responses API that guardrails read (`texts.py`'s `TextFormat`): prose, and
the JSON arguments of tool calls.

Requests' `instructions` and `input` (a string, or message items with `input_text`/`output_text`
and `refusal` parts, `function_call` items' arguments, `function_call_output` items' output,
custom tool calls' input and output, reasoning items' summary and text: signed by nothing, they
go upstream as they are), and what else they hold for the model (`openai_request_texts.py`: the
tools offered, the answer's schema, prompt variables, other tools' calls and outputs); answers'
`output[]` items alike (a message's `refusal` parts too) and reasoning items' summary and
reasoning text; streams' `output_text`,
`refusal`, `reasoning_summary_text`, `reasoning_text`, `function_call_arguments` and
`custom_tool_call_input` deltas, and the whole texts their `done` events, the content and summary
parts' `done`, `output_item.done` and `completed` repeat. A reasoning item's `encrypted_content`
is the provider's: unreadable (OpenAI's), or signed blocks whose every text was read as the chat
answer it came from (the compat endpoint's).

The answer's text is JSON when the request asked for it: `text.format` of type `json_schema` or
`json_object` (a refusal stays prose).
https://platform.openai.com/docs/api-reference/responses,
https://platform.openai.com/docs/api-reference/responses-streaming
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sluicegate.providers.openai_request_texts import (
    asks_json,
    input_item_extras,
    refusal_parts,
    responses_extras,
)
from sluicegate.providers.sse import sse_data
from sluicegate.providers.texts import (
    Text,
    TextPipes,
    as_list,
    content,
    json_value,
    role_of,
    string,
    text_parts,
)


@dataclass(frozen=True, slots=True)
class ResponsesTexts:
    """`json_answers`: the answers' output text is JSON text (the request's `text.format` asked
    for it)."""

    name: str = "openai_responses"
    json_answers: bool = False

    def answering(self, request: Any) -> ResponsesTexts:
        asked = asks_json(request.get("text") if isinstance(request, dict) else None, "format")
        return self if asked == self.json_answers else replace(self, json_answers=asked)

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        yield from string(body, "instructions", "system")
        yield from responses_extras(body)
        if isinstance(body.get("input"), str):
            yield Text(body, "input", "user")
            return
        for item in as_list(body.get("input")):
            if isinstance(item, dict):
                yield from _item_texts(item, role_of(item), request=True)

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
        if kind in ("response.content_part.done", "response.reasoning_summary_part.done") and isinstance(
            part, dict
        ):
            if isinstance(part.get("text"), str):
                json = self.json_answers and kind == "response.content_part.done"
                part["text"] = pipes.whole(part["text"], json=json)
            if part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                part["refusal"] = pipes.whole(part["refusal"])
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
# content_index), a refusal part's (_REFUSAL, output_index, content_index), a reasoning summary
# part's (_SUMMARY, output_index, summary_index), a reasoning text part's (_THOUGHT, output_index,
# content_index), a function call's arguments' (_ARGUMENTS, output_index), a custom tool call's
# input's (_INPUT, output_index).
_TEXT, _REFUSAL, _SUMMARY, _THOUGHT, _ARGUMENTS, _INPUT = (
    "response.output_text",
    "response.refusal",
    "response.reasoning_summary_text",
    "response.reasoning_text",
    "response.function_call_arguments",
    "response.custom_tool_call_input",
)
_PART_INDEX = {
    _TEXT: "content_index",
    _REFUSAL: "content_index",
    _SUMMARY: "summary_index",
    _THOUGHT: "content_index",
}
_DELTAS = frozenset(f"{kind}.delta" for kind in (_TEXT, _REFUSAL, _SUMMARY, _THOUGHT, _ARGUMENTS, _INPUT))
_DONES = {
    **{f"{kind}.done": "text" for kind in (_TEXT, _SUMMARY, _THOUGHT)},
    f"{_REFUSAL}.done": "refusal",
    f"{_ARGUMENTS}.done": "arguments",
    f"{_INPUT}.done": "input",
}
_OUTPUT_ITEMS = frozenset({"message", "function_call", "custom_tool_call", "reasoning"})


def _item_texts(
    item: dict[str, Any], role: str, *, json: bool = False, request: bool = False
) -> Iterator[Text]:
    """The text of one input or output item: a message's text parts (JSON texts with `json`) and
    refusal parts, a tool call's arguments (JSON) or input, a tool call's output (a string, or text
    parts), a reasoning item's summary and text; in a request (`request`), also what else its
    items hold (`input_item_extras`)."""
    kind = item.get("type", "message")
    if kind == "message":
        yield from content(item, "content", role, ("input_text", "output_text", "text"), json=json)
        yield from refusal_parts(item.get("content"), role)
    elif kind == "function_call":
        yield from json_value(item, "arguments", "assistant")
    elif kind == "custom_tool_call":
        yield from string(item, "input", "assistant")
    elif kind in ("function_call_output", "custom_tool_call_output"):
        yield from content(item, "output", "tool", ("input_text",))
    elif kind == "reasoning":
        yield from text_parts(item.get("summary"), ("summary_text",), "assistant")
        yield from text_parts(item.get("content"), ("reasoning_text",), "assistant")
    elif request:
        yield from input_item_extras(item)


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


RESPONSES_TEXTS = ResponsesTexts()
