"""Anthropic Messages, served whole or streamed from a cached answer of either form.

Wire format: https://docs.anthropic.com/en/docs/build-with-claude/streaming — `message_start`
(the message with empty content), per content block `content_block_start`, its
`content_block_delta`s (`text_delta`, `input_json_delta`, `thinking_delta`, `signature_delta`,
`citations_delta`) and `content_block_stop`, then `message_delta` (stop reason; cumulative usage)
and `message_stop`. Blocks without a delta type (redacted thinking, server tool results) arrive
whole in their `content_block_start`.
"""

from __future__ import annotations

from typing import Any

import orjson

from sluicegate.providers.base import Answer, RequestFacts, converted
from sluicegate.providers.sse import iter_json

Message = dict[str, Any]
_TEXT_FIELDS = {"text_delta": "text", "thinking_delta": "thinking"}  # delta type -> the field it extends


def messages_answer(facts: RequestFacts, stored: Answer) -> Answer | None:
    """A cached Messages answer as the request asks for it (see `Provider.answer_as`)."""
    return converted(facts, stored, _message, _message_events)


def _message_events(message: Message) -> bytes | None:
    return _events(message) if message.get("type") == "message" else None


def _events(message: Message) -> bytes | None:
    content = message.get("content")
    if not isinstance(content, list):
        return None
    usage = _dict(message.get("usage"))
    # message_start reports the input side; message_delta's usage is cumulative and final.
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**usage, "output_tokens": 0}
    events: list[Message] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(content):
        if not isinstance(block, dict):
            return None
        opening, deltas = _block(block)
        events.append({"type": "content_block_start", "index": index, "content_block": opening})
        events += [{"type": "content_block_delta", "index": index, "delta": delta} for delta in deltas]
        events.append({"type": "content_block_stop", "index": index})
    stop = {"stop_reason": message.get("stop_reason"), "stop_sequence": message.get("stop_sequence")}
    events += [{"type": "message_delta", "delta": stop, "usage": usage}, {"type": "message_stop"}]
    return b"".join(
        b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n" for event in events
    )


def _block(block: Message) -> tuple[Message, list[Message]]:
    """A content block as its opening (what `content_block_start` carries) and its deltas."""
    kind = block.get("type")
    if kind == "text" and isinstance(block.get("text"), str):
        citations = block.get("citations")
        opening = {k: v for k, v in block.items() if k != "citations"} | {"text": ""}
        deltas = [{"type": "text_delta", "text": block["text"]}]
        deltas += [{"type": "citations_delta", "citation": c} for c in citations or ()]
        return opening, deltas
    if kind == "thinking" and isinstance(block.get("thinking"), str):
        opening = {**block, "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": block["thinking"]}]
        if isinstance(block.get("signature"), str):
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        return opening, deltas
    if "input" in block:  # tool_use, server_tool_use, mcp_tool_use: the input streams as JSON text
        partial = orjson.dumps(block["input"]).decode()
        return {**block, "input": {}}, [{"type": "input_json_delta", "partial_json": partial}]
    return block, []


def _message(events: bytes) -> Message | None:
    """The message a complete stream delivered; None if it is not one (or carries an error)."""
    message: Message | None = None
    blocks: dict[int, Message] = {}
    inputs: dict[int, list[str]] = {}
    for event in iter_json(events):
        if not isinstance(event, dict):
            continue
        kind, index = event.get("type"), event.get("index")
        if kind == "message_start" and isinstance(event.get("message"), dict):
            message = dict(event["message"])
        elif kind == "content_block_start" and isinstance(index, int):
            blocks[index] = dict(event.get("content_block") or {})
        elif kind == "content_block_delta" and index in blocks:
            if not _apply(blocks[index], inputs.setdefault(index, []), event.get("delta")):
                return None
        elif kind == "message_delta" and message is not None:
            message.update(event.get("delta") or {})
            usage = {k: v for k, v in _dict(event.get("usage")).items() if v is not None}
            message["usage"] = {**_dict(message.get("usage")), **usage}
        elif kind == "error":
            return None
    if message is None:
        return None
    for index, parts in inputs.items():
        if parts:
            try:
                blocks[index]["input"] = orjson.loads("".join(parts))
            except orjson.JSONDecodeError:
                return None
    message["content"] = [blocks[index] for index in sorted(blocks)]
    return message


def _apply(block: Message, inputs: list[str], delta: Any) -> bool:
    """Fold one delta into its block; False for a delta this code does not know (never guessed at)."""
    if not isinstance(delta, dict):
        return False
    kind = delta.get("type")
    if kind in _TEXT_FIELDS:
        field = _TEXT_FIELDS[kind]
        block[field] = (block.get(field) or "") + str(delta.get(field, ""))
    elif kind == "input_json_delta":
        inputs.append(str(delta.get("partial_json", "")))
    elif kind == "signature_delta":
        block["signature"] = delta.get("signature")
    elif kind == "citations_delta":
        block["citations"] = [*(block.get("citations") or ()), delta.get("citation")]
    else:
        return False
    return True


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
