"""Usage for a cache hit whose stored OpenAI chat completion has none.

A stream stored without `stream_options.include_usage` (the SDKs' default) holds no usage. The
semantic scope leaves `stream` and `stream_options` out, and a `cf-aig-cache-key` names one entry
whatever the body, so such an entry may answer a whole request (whose client reads `usage`: the
openai SDK's `r.usage.total_tokens` raised AttributeError) or a stream asking for the usage chunk
(which got none). On a hit of either cache the gateway then fills in its own count
(usage/tokens.py: exact for OpenAI's models, an estimate for others): the asking request's input,
the stored answer's output. The log record says it is the gateway's count (`usage_estimated`).
Only for a request whose client reads usage (`asks_usage`): a chat stream without include_usage
gets the usage chunk taken out again (openai_stream.py), so counting for it was tokenising for
nothing on every such hit (its log record's usage is counted after the answer either way).
An entry that holds usage keeps it: the provider's count, which a translated stream is stored with
even when its client did not ask (cache_streams.py).

Wire format: https://platform.openai.com/docs/api-reference/chat-streaming — the usage chunk has
the chunks' head fields, `choices: []` and `usage`, just before `data: [DONE]`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson

from sluicegate.providers.base import RequestFacts
from sluicegate.providers.sse import iter_events
from sluicegate.storage.cache import CacheEntry
from sluicegate.usage.tokens import TokenCounter

UsageOf = Callable[[str], dict[str, Any]]  # the usage object, given the answer's text
_CHAT, _CHUNK = "chat.completion", "chat.completion.chunk"
_HEAD = ("id", "object", "created", "model", "system_fingerprint", "service_tier")
_HEAD_BYTES = 4096  # where a completion's, or its first chunk's, `object` is


def asks_usage(facts: RequestFacts) -> bool:
    """Whether the client of a chat request (as `asked` reads it: a Messages or Responses client's
    is the chat request its ingress wrote, which asks include_usage) gets usage in its answer: a
    whole chat completion always has `usage`; a stream only its include_usage chunk."""
    if not facts.stream:
        return True
    options = facts.payload.get("stream_options") if isinstance(facts.payload, dict) else None
    return isinstance(options, dict) and options.get("include_usage") is True


def may_lack_usage(entry: CacheEntry) -> bool:
    """Cheap, on the event loop: whether `entry` may be a chat completion without usage, worth
    `counted_entry` on a worker thread (a hit of any other answer costs no more than before)."""
    body = entry.body
    has_usage = b'"usage":{' in body or b'"usage": {' in body
    return b'"chat.completion' in body[:_HEAD_BYTES] and not has_usage


def counted_entry(counter: TokenCounter, facts: RequestFacts, entry: CacheEntry) -> CacheEntry | None:
    """For a worker thread (tokenizing): `entry` with the gateway's count of its usage for the
    request that asked `facts`, when it is a chat completion stored without any; else None."""

    def usage_of(text: str) -> dict[str, Any]:
        prompt_tokens = counter.count_request_input(facts)
        completion_tokens = counter.count_text(text, facts.model)
        total = prompt_tokens + completion_tokens
        return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": total}

    body = with_stream_usage(entry.body, usage_of) if entry.streamed else _whole(entry.body, usage_of)
    return None if body is None else replace(entry, body=body)


def _whole(body: bytes, usage_of: UsageOf) -> bytes | None:
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
    return orjson.dumps(document | {"usage": usage_of(text)})


def with_stream_usage(body: bytes, usage_of: UsageOf) -> bytes | None:
    """A chat.completion.chunk stream with a usage chunk before its `[DONE]`, the usage `usage_of`
    gives for its text; None when it is not such a stream or already has one."""
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
    closing = head | {"choices": [], "usage": usage_of("".join(texts))}
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
