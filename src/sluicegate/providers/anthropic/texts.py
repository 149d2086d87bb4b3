"""The text of Anthropic's Messages API that guardrails read (`providers/texts.py`'s
`TextFormat`): requests' `system` and `messages[].content` (a string or `text` blocks, and what
their `citations` quote), `tool_use` blocks' `input` (JSON), `tool_result` blocks' content (a
string, or `text`, `document` and `search_result` blocks), `document` blocks' `title`, `context`
and text (a plain-text source's `data`, a content source's string or `text` blocks; a PDF, base64
or by URL, and a file id are not text to read) and `search_result` blocks' `title`, `source` and
`text` blocks; answers'
`text`, `tool_use` and `thinking` blocks; streams' `text_delta`, `input_json_delta` and
`thinking_delta` events.

A thinking block is signed (its `signature`, which Anthropic checks when the block comes back in
a tool loop): one whose text a guardrail changes gets an empty signature (`Text.signed`; in a
stream its `signature_delta` says ""), for the signature vouches for words the client no longer
has. `redacted_thinking` blocks are Anthropic's encryption, no text to read, and pass as they are.
A request's thinking blocks are not read: they must go back as they came, and were read as the
answer they were. An answer's text
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

from sluicegate.providers.schema_texts import any_json, tool_texts
from sluicegate.providers.sse import sse_data
from sluicegate.providers.texts import (
    RequestOnlyTexts,
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

_INPUT = "input_json"  # a tool use block's pipe index is (_INPUT, its block index)
_THINKING = "thinking"  # a thinking block's is (_THINKING, its block index)


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
                yield from _citation_texts(block, role)
        for tool in as_list(body.get("tools")):  # a client tool's; a server tool has neither
            yield from tool_texts(tool, ("input_schema",))
            if isinstance(tool, dict):
                yield from any_json(tool, "input_examples", "system")

    def answer_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for block in as_list(body.get("content")):
            if isinstance(block, dict) and block.get("type") == "thinking":
                if isinstance(block.get("thinking"), str):
                    yield Text(block, "thinking", "assistant", signed=True)
            else:
                yield from _block_texts(block, "assistant", json=self.json_answers)

    def stream_event(self, event: dict[str, Any], pipes: TextPipes) -> bytes:
        index = event.get("index", 0)
        delta = event.get("delta")
        if event.get("type") == "content_block_delta" and isinstance(delta, dict):
            if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                delta["text"] = pipes.feed(index, delta["text"], json=self.json_answers)
            elif delta.get("type") == "input_json_delta" and isinstance(delta.get("partial_json"), str):
                delta["partial_json"] = pipes.feed((_INPUT, index), delta["partial_json"], json=True)
            elif delta.get("type") == "thinking_delta" and isinstance(delta.get("thinking"), str):
                delta["thinking"] = pipes.feed((_THINKING, index), delta["thinking"])
            elif delta.get("type") == "signature_delta":
                # The text has ended: what its pipe held goes first, and a changed text's signature is "".
                held = self.stream_leftover((_THINKING, index), pipes.close((_THINKING, index)), event)
                if pipes.altered((_THINKING, index)) and delta.get("signature"):
                    delta["signature"] = ""
                    pipes.changed = True
                return held
        elif event.get("type") == "content_block_start" and isinstance(event.get("content_block"), dict):
            _start(index, event["content_block"], pipes)
        elif event.get("type") == "content_block_stop":
            # A stop event has no text of its own: what the block's pipe held goes just before it.
            text = self.stream_leftover(index, pipes.close(index), event)
            text += self.stream_leftover((_THINKING, index), pipes.close((_THINKING, index)), event)
            return text + self.stream_leftover((_INPUT, index), pipes.close((_INPUT, index)), event)
        return b""

    def stream_leftover(self, index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
        if not text:
            return b""
        if isinstance(index, tuple) and index[0] == _THINKING:
            thought = {"type": "thinking_delta", "thinking": text}
            delta = {"type": "content_block_delta", "index": index[1], "delta": thought}
        elif isinstance(index, tuple):
            json_delta = {"type": "input_json_delta", "partial_json": text}
            delta = {"type": "content_block_delta", "index": index[1], "delta": json_delta}
        else:
            delta = {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": text},
            }
        return sse_data(delta, "content_block_delta")


def _start(index: Any, block: dict[str, Any], pipes: TextPipes) -> None:
    """What a block's start already holds (mostly nothing: `""`, `{}`): a text block's text and a
    thinking block's through the pipes their deltas take, a tool use's input read whole."""
    if block.get("type") == "text" and isinstance(block.get("text"), str) and block["text"]:
        block["text"] = pipes.feed(index, block["text"])
    elif block.get("type") == "thinking" and isinstance(block.get("thinking"), str) and block["thinking"]:
        block["thinking"] = pipes.feed((_THINKING, index), block["thinking"])
    elif block.get("type") == "tool_use" and block.get("input"):
        for found in json_value(block, "input", "assistant"):
            found.set(pipes.whole(found.value, json=True))


def _format(config: Any) -> Any:
    """`output_config`'s `format`, if any."""
    return config.get("format") if isinstance(config, dict) else None


def _block_texts(block: Any, role: str, *, json: bool = False) -> Iterator[Text]:
    """A content block's text: a text block's (a block with no type counts as text; a JSON text
    with `json`), a tool use's input (JSON), a tool result's content (a string, or its text,
    document and search result blocks), a document's or search result's (`_source_texts`)."""
    if not isinstance(block, dict):
        return
    kind = block.get("type", "text")
    if isinstance(block.get("text"), str):  # a text block's, or that of a type not known here
        yield Text(block, "text", role, json and kind == "text")
    elif kind == "tool_use":
        yield from json_value(block, "input", role)
    elif kind == "tool_result":
        if isinstance(block.get("content"), str):
            yield Text(block, "content", "tool")
        for part in as_list(block.get("content")):  # in order: text, document, search result
            yield from text_parts([part], ("text",), "tool")
            yield from _citation_texts(part, "tool")
            yield from _source_texts(part, "tool")
    else:
        yield from _source_texts(block, role)


def _source_texts(block: Any, role: str) -> Iterator[Text]:
    """A `document` block's text (its title and context, a plain-text source's `data`, a content
    source's string or text blocks) or a `search_result` block's (its title, source and text
    blocks). A PDF's source (base64 or a URL) and a file's id are no text, and are not read."""
    if not isinstance(block, dict):
        return
    if block.get("type") == "document":
        yield from string(block, "title", role)
        yield from string(block, "context", role)
        source = block.get("source")
        if isinstance(source, dict) and source.get("type") == "text":
            yield from string(source, "data", role)
        elif isinstance(source, dict) and source.get("type") == "content":
            yield from content(source, "content", role, ("text",))
    elif block.get("type") == "search_result":
        yield from string(block, "title", role)
        yield from string(block, "source", role)
        yield from text_parts(block.get("content"), ("text",), role)


def _citation_texts(block: Any, role: str) -> Iterator[Text]:
    """What a request's text block's `citations` say of their documents (an earlier answer's, sent
    back): the quoted `cited_text` and the document's or search result's title."""
    if not isinstance(block, dict) or block.get("type", "text") != "text":
        return
    for citation in as_list(block.get("citations")):
        for key in ("cited_text", "document_title", "title"):
            yield from string(citation, key, role)


MESSAGES_TEXTS = MessagesTexts()


@dataclass(frozen=True, slots=True)
class MessageBatchTexts(RequestOnlyTexts):
    """A Message Batch being created: each of its `requests`' `params`, a Messages body, read as one.
    Its answer is the batch (no text); the results are fetched later, as JSON lines, and not read."""

    name: str = "anthropic_message_batch"

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for request in as_list(body.get("requests")):
            params = request.get("params") if isinstance(request, dict) else None
            if isinstance(params, dict):
                yield from MESSAGES_TEXTS.request_texts(params)


MESSAGE_BATCH_TEXTS = MessageBatchTexts()

# `system`, the `messages` turns, their `text` blocks (`image` ones count as images), tool use
# blocks' `name` and `input`, tool results' `content`, documents' `title`, `context` and text (a
# content source's `content`, a plain-text source's `data`; a PDF's base64 or URL counts nothing),
# search results' `title`, `source` and `content`. Citations count nothing: Anthropic counts no
# `cited_text` sent back (https://docs.claude.com/en/docs/build-with-claude/citations). `title`,
# `context`, `source` and `data` are read in those blocks only (`typed_text`): every provider's
# bodies are read with these keys, and elsewhere (a tool's arguments, another API's objects) they
# are no prompt text.
MESSAGES_TOKEN_KEYS = TokenKeys(
    turns=frozenset({"messages"}),
    text=frozenset({"system", "content", "text", "name", "input"}),
    image_types=frozenset({"image"}),
    typed_text=frozenset(
        {
            ("document", "title"),
            ("document", "context"),
            ("document", "source"),
            ("document/text", "data"),
            ("search_result", "title"),
            ("search_result", "source"),
        }
    ),
)
