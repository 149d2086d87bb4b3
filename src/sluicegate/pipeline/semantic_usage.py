"""Usage for a semantic hit whose stored OpenAI chat completion has none.

A stream stored without `stream_options.include_usage` (the SDKs' default) holds no usage, and the
semantic scope leaves `stream` and `stream_options` out, so it may answer a whole request (whose
client reads `usage`: the openai SDK's `r.usage.total_tokens` raised AttributeError) or a stream
asking for the usage chunk (which got none). The gateway fills in its own count (usage/tokens.py:
exact for OpenAI's models, an estimate for others): the asking request's input, the stored
answer's output. The log record says it is the gateway's count (`usage_estimated`).

Wire format: https://platform.openai.com/docs/api-reference/chat-streaming — the usage chunk has
the chunks' head fields, `choices: []` and `usage`, just before `data: [DONE]`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from sluicegate.providers.sse import iter_events

Count = Callable[[str], int]  # the output text's tokens
_CHAT, _CHUNK = "chat.completion", "chat.completion.chunk"
_HEAD = ("id", "object", "created", "model", "system_fingerprint", "service_tier")


def with_usage(body: bytes, streamed: bool, prompt_tokens: int, count: Count) -> bytes | None:
    """`body` (a stored chat completion, whole or streamed) with a usage object, or None when it is
    not a chat completion or already reports usage."""
    return _stream(body, prompt_tokens, count) if streamed else _whole(body, prompt_tokens, count)


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    total = prompt_tokens + completion_tokens
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": total}


def _whole(body: bytes, prompt_tokens: int, count: Count) -> bytes | None:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict) or document.get("object") != _CHAT or document.get("usage"):
        return None
    choices = document.get("choices")
    if not isinstance(choices, list):
        return None
    text = "".join(_text(choice.get("message")) for choice in choices if isinstance(choice, dict))
    return orjson.dumps(document | {"usage": _usage(prompt_tokens, count(text))})


def _stream(body: bytes, prompt_tokens: int, count: Count) -> bytes | None:
    head: dict[str, Any] | None = None
    texts: list[str] = []
    kept: list[bytes] = []
    for event in iter_events(body):
        if event.data == b"[DONE]":
            continue
        kept.append(event.raw)
        chunk = _json(event.data)
        if not isinstance(chunk, dict) or chunk.get("object") != _CHUNK:
            continue
        if chunk.get("usage"):
            return None  # stored with its usage chunk: openai_stream.py serves it as asked
        head = head or {name: chunk[name] for name in _HEAD if name in chunk}
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict):
                texts.append(_text(choice.get("delta")))
    if head is None:
        return None
    closing = head | {"choices": [], "usage": _usage(prompt_tokens, count("".join(texts)))}
    return b"".join(kept) + b"data: " + orjson.dumps(closing) + b"\n\ndata: [DONE]\n\n"


def _text(message: Any) -> str:
    """A message's or delta's generated text: its content, refusal and tool calls' arguments."""
    if not isinstance(message, dict):
        return ""
    parts = [message.get("content"), message.get("refusal")]
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            parts += [function.get("name"), function.get("arguments")]
    return "".join(part for part in parts if isinstance(part, str))


def _json(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
