"""The user-visible text of OpenAI's chat completions and Responses API, for guardrails
(`texts.py`'s `TextFormat`).

Chat: requests' `messages[].content` (a string or `text` parts), answers'
`choices[].message.content`, streams' `choices[].delta.content`. Responses: requests'
`instructions` and `input` (a string, or message items with `input_text`/`output_text` parts),
answers' `output[]` `output_text` parts, streams' `output_text` deltas and the whole texts its
`done` and `completed` events repeat.
https://platform.openai.com/docs/api-reference/chat, https://platform.openai.com/docs/api-reference/responses

Also what the token estimator counts of these APIs' requests, and of completions' and embeddings'
(`TokenKeys`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sluicegate.providers.sse import sse_data
from sluicegate.providers.texts import (
    Text,
    TextPipes,
    TokenKeys,
    as_list,
    content,
    role_of,
    string,
    text_parts,
)

# What a closing chunk made of what a choice's pipe still holds repeats of the last chunk.
_CHUNK_FIELDS = ("id", "object", "created", "model")


@dataclass(frozen=True, slots=True)
class ChatTexts:
    name: str = "openai_chat"

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for message in as_list(body.get("messages")):
            if isinstance(message, dict):
                yield from content(message, "content", role_of(message), ("text",))

    def answer_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for choice in as_list(body.get("choices")):
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                yield Text(message, "content", "assistant")

    def stream_event(self, event: dict[str, Any], pipes: TextPipes) -> bytes:
        for choice in event.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            delta = choice.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                delta["content"] = pipes.feed(index, delta["content"])
            if choice.get("finish_reason") is not None:
                rest = pipes.close(index)
                if rest and isinstance(delta, dict):
                    delta["content"] = (delta.get("content") or "") + rest
        return b""

    def stream_leftover(self, index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
        choice = {"index": index, "delta": {"content": text}, "finish_reason": None}
        return sse_data({**{key: last[key] for key in _CHUNK_FIELDS if key in last}, "choices": [choice]})


@dataclass(frozen=True, slots=True)
class ResponsesTexts:
    name: str = "openai_responses"

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        yield from string(body, "instructions", "system")
        if isinstance(body.get("input"), str):
            yield Text(body, "input", "user")
            return
        for item in as_list(body.get("input")):
            if isinstance(item, dict) and item.get("type", "message") == "message":
                yield from content(item, "content", role_of(item), ("input_text", "output_text", "text"))

    def answer_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for item in as_list(body.get("output")):
            if isinstance(item, dict) and item.get("type") == "message":
                yield from text_parts(item.get("content"), ("output_text",), "assistant")

    def stream_event(self, event: dict[str, Any], pipes: TextPipes) -> bytes:
        kind = event.get("type")
        key = (event.get("output_index", 0), event.get("content_index", 0))  # one pipe per part
        if kind == "response.output_text.delta" and isinstance(event.get("delta"), str):
            event["delta"] = pipes.feed(key, event["delta"])
            return b""
        before = b""
        if kind == "response.output_text.done":
            before = _text_delta(key, pipes.close(key), event)
            if isinstance(event.get("text"), str):
                event["text"] = pipes.whole(event["text"])
        part = event.get("part")
        if (
            kind == "response.content_part.done"
            and isinstance(part, dict)
            and isinstance(part.get("text"), str)
        ):
            part["text"] = pipes.whole(part["text"])
        item = event.get("item")
        if kind == "response.output_item.done" and isinstance(item, dict):
            for text in self.answer_texts({"output": [item]}):
                text.set(pipes.whole(text.value))
        if isinstance(event.get("response"), dict):  # created, in_progress, completed, incomplete
            for text in self.answer_texts(event["response"]):
                text.set(pipes.whole(text.value))
        return before

    def stream_leftover(self, index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
        return _text_delta(index, text, {})


def _text_delta(key: Any, text: str, event: Mapping[str, Any]) -> bytes:
    """What a part's pipe still held, as one more delta of that part (none for no text); `key` is
    `stream_event`'s: (output_index, content_index)."""
    if not text:
        return b""
    delta = {
        "type": "response.output_text.delta",
        "item_id": event.get("item_id"),
        "output_index": key[0],
        "content_index": key[1],
        "delta": text,
        "sequence_number": event.get("sequence_number"),
    }
    return sse_data(delta, "response.output_text.delta")


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
