"""The user-visible text of Anthropic's Messages API, for guardrails (`providers/texts.py`'s
`TextFormat`): requests' `system` and `messages[].content` (a string or `text` blocks), answers'
`content[]` `text` blocks, streams' `text_delta` events. Also what the token estimator counts of
its requests (`TokenKeys`).
https://docs.anthropic.com/en/api/messages, https://docs.anthropic.com/en/docs/build-with-claude/streaming
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
    text_parts,
)


@dataclass(frozen=True, slots=True)
class MessagesTexts:
    name: str = "anthropic_messages"

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        yield from content(body, "system", "system", ("text",))
        for message in as_list(body.get("messages")):
            if isinstance(message, dict):
                yield from content(message, "content", role_of(message), ("text",))

    def answer_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        yield from text_parts(body.get("content"), ("text",), "assistant")

    def stream_event(self, event: dict[str, Any], pipes: TextPipes) -> bytes:
        index = event.get("index", 0)
        delta = event.get("delta")
        if event.get("type") == "content_block_delta" and isinstance(delta, dict):
            if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                delta["text"] = pipes.feed(index, delta["text"])
        elif event.get("type") == "content_block_stop":
            # A stop event has no text of its own: what the block's pipe held goes just before it.
            return self.stream_leftover(index, pipes.close(index), event)
        return b""

    def stream_leftover(self, index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
        if not text:
            return b""
        delta = {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}
        return sse_data(delta, "content_block_delta")


MESSAGES_TEXTS = MessagesTexts()

# `system`, the `messages` turns, their `text` blocks (`image` ones count as images), tool use
# blocks' `name` and `input`, tool results' `content`.
MESSAGES_TOKEN_KEYS = TokenKeys(
    turns=frozenset({"messages"}),
    text=frozenset({"system", "content", "text", "name", "input"}),
    image_types=frozenset({"image"}),
)
