"""The text of Anthropic's Messages API that guardrails read (`providers/texts.py`'s
`TextFormat`): requests' `system` and `messages[].content` (a string or `text` blocks), `tool_use`
blocks' `input` (JSON) and `tool_result` blocks' content (a string or `text` blocks); answers'
`text` and `tool_use` blocks; streams' `text_delta` and `input_json_delta` events. An answer's text
is JSON when the request asked for structured output (`output_config.format`, or the beta's
`output_format`, of type `json_schema`). Also what the token estimator counts of its requests
(`TokenKeys`).
https://docs.anthropic.com/en/api/messages, https://docs.anthropic.com/en/docs/build-with-claude/streaming,
https://docs.claude.com/en/docs/build-with-claude/structured-outputs
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
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
)

_INPUT = "input_json"  # a tool use block's pipe index is (_INPUT, its block index)


@dataclass(frozen=True, slots=True)
class MessagesTexts:
    """`json_answers`: the answers' text blocks are JSON text (the request asked for structured
    output)."""

    name: str = "anthropic_messages"
    json_answers: bool = False

    def answering(self, request: Any) -> MessagesTexts:
        asked = isinstance(request, dict) and any(
            isinstance(output, dict) and output.get("type") == "json_schema"
            for output in (_format(request.get("output_config")), request.get("output_format"))
        )
        return self if asked == self.json_answers else replace(self, json_answers=asked)

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        yield from content(body, "system", "system", ("text",))
        for message in as_list(body.get("messages")):
            if not isinstance(message, dict):
                continue
            role = role_of(message)
            if isinstance(message.get("content"), str):
                yield Text(message, "content", role)
            for block in as_list(message.get("content")):
                yield from _block_texts(block, role)

    def answer_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for block in as_list(body.get("content")):
            yield from _block_texts(block, "assistant", json=self.json_answers)

    def stream_event(self, event: dict[str, Any], pipes: TextPipes) -> bytes:
        index = event.get("index", 0)
        delta = event.get("delta")
        if event.get("type") == "content_block_delta" and isinstance(delta, dict):
            if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                delta["text"] = pipes.feed(index, delta["text"], json=self.json_answers)
            elif delta.get("type") == "input_json_delta" and isinstance(delta.get("partial_json"), str):
                delta["partial_json"] = pipes.feed((_INPUT, index), delta["partial_json"], json=True)
        elif event.get("type") == "content_block_stop":
            # A stop event has no text of its own: what the block's pipe held goes just before it.
            text = self.stream_leftover(index, pipes.close(index), event)
            return text + self.stream_leftover((_INPUT, index), pipes.close((_INPUT, index)), event)
        return b""

    def stream_leftover(self, index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
        if not text:
            return b""
        if isinstance(index, tuple):
            json_delta = {"type": "input_json_delta", "partial_json": text}
            delta = {"type": "content_block_delta", "index": index[1], "delta": json_delta}
        else:
            delta = {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": text},
            }
        return sse_data(delta, "content_block_delta")


def _format(config: Any) -> Any:
    """`output_config`'s `format`, if any."""
    return config.get("format") if isinstance(config, dict) else None


def _block_texts(block: Any, role: str, *, json: bool = False) -> Iterator[Text]:
    """A content block's text: a text block's (a block with no type counts as text; a JSON text
    with `json`), a tool use's input (JSON), a tool result's content (its text blocks)."""
    if not isinstance(block, dict):
        return
    kind = block.get("type", "text")
    if kind == "text" and isinstance(block.get("text"), str):
        yield Text(block, "text", role, json)
    elif kind == "tool_use":
        yield from json_value(block, "input", role)
    elif kind == "tool_result":
        yield from content(block, "content", "tool", ("text",))


MESSAGES_TEXTS = MessagesTexts()

# `system`, the `messages` turns, their `text` blocks (`image` ones count as images), tool use
# blocks' `name` and `input`, tool results' `content`.
MESSAGES_TOKEN_KEYS = TokenKeys(
    turns=frozenset({"messages"}),
    text=frozenset({"system", "content", "text", "name", "input"}),
    image_types=frozenset({"image"}),
)
