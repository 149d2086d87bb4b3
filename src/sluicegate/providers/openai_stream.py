"""OpenAI chat completions and legacy completions, served whole or streamed from a cached answer of
either form.

Wire format: https://platform.openai.com/docs/api-reference/chat-streaming — a stream is
`chat.completion.chunk` events (`text_completion` for legacy completions): a first delta with the
role, the content deltas, a last chunk per choice with its `finish_reason`; with
`stream_options.include_usage` every chunk has `usage: null` and one more chunk, whose `choices` is
empty, carries the usage; then `data: [DONE]`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from sluicegate.providers.base import JSON_TYPE, SSE_TYPE, Answer, RequestFacts
from sluicegate.providers.sse import iter_events, iter_json

Document = dict[str, Any]
_DONE = b"data: [DONE]\n\n"
_HEAD = ("id", "created", "model", "system_fingerprint", "service_tier")
# Fields of a stream's head a whole answer keeps after its usage (Azure's prompt filter results too).
_KEPT = ("system_fingerprint", "service_tier", "prompt_filter_results")
_SET_ONCE = frozenset({"id", "type", "role", "index"})  # delta fields that are not concatenated


def chat_answer(facts: RequestFacts, stored: Answer) -> Answer | None:
    """A cached chat completion as the request asks for it (see `Provider.answer_as`)."""
    return _answer(facts, stored, _chat_document, _chat_events)


def completion_answer(facts: RequestFacts, stored: Answer) -> Answer | None:
    """A cached legacy completion (`/completions`) as the request asks for it."""
    return _answer(facts, stored, _completion_document, _completion_events)


def _answer(
    facts: RequestFacts,
    stored: Answer,
    collapse: Callable[[bytes], Document | None],
    expand: Callable[[Document, bool], bytes | None],
) -> Answer | None:
    if not facts.stream:
        if not stored.streamed:
            return stored
        document = collapse(stored.body)
        return None if document is None else Answer(orjson.dumps(document), False, JSON_TYPE)
    include_usage = include_usage_asked(facts.payload)
    if stored.streamed:
        # The semantic cache's scope leaves stream_options out: a stream stored with the usage chunk
        # may answer a request that did not ask for it, whose client may read `choices[0]` of every
        # chunk. (One stored without usage has none to give, and is served as it is.)
        if not include_usage and _ends_with_usage(stored.body):
            return Answer(_without_usage_chunk(stored.body), True)
        return stored
    try:
        document = orjson.loads(stored.body)
    except orjson.JSONDecodeError:
        return None
    events = expand(document, include_usage) if isinstance(document, dict) else None
    return None if events is None else Answer(events, True, SSE_TYPE)


def include_usage_asked(payload: Any) -> bool:
    options = payload.get("stream_options") if isinstance(payload, dict) else None
    return isinstance(options, dict) and options.get("include_usage") is True


def asking_usage(body: bytes, payload: Any) -> bytes | None:
    """The chat request `body` (parsed: `payload`) asking for its stream's usage chunk, or None when
    it asks already. Where it names no `stream_options` (the SDKs' default) the field is put first,
    the client's bytes kept as they are after it; else the request is written again with it."""
    if not isinstance(payload, dict) or include_usage_asked(payload):
        return None
    options = payload.get("stream_options")
    if options is None and "stream_options" not in payload:
        start = body.find(b"{") + 1
        rest = body[start:]
        comma = b"" if rest.lstrip().startswith(b"}") else b","
        return body[:start] + _ASK_USAGE + comma + rest
    try:
        document = orjson.loads(body)  # (the body sent: a plan may have written it otherwise than read)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    kept = options if isinstance(options, dict) else {}
    return orjson.dumps({**document, "stream_options": {**kept, "include_usage": True}})


_ASK_USAGE = b'"stream_options":{"include_usage":true}'
_EMPTY_CHOICES = re.compile(rb'"choices"\s*:\s*\[\s*\]')  # a usage chunk's, spaced or not
_USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')  # (a usage chunk's; every other chunk says `null`)


class WithoutUsageChunk:
    """A chat stream as it passes, less its usage chunk (the one whose `choices` is empty): for a
    client that did not ask for it when the gateway did. Every other byte goes on as it came; only
    an event not yet whole is held until it is (a client reads whole events only). `feed` each
    chunk, then `close()`; each returns the bytes to send on (b"": nothing yet)."""

    def __init__(self) -> None:
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._held + chunk if self._held else chunk
        if data.endswith(b"\n\n"):
            whole, self._held = data, b""
        else:
            # (A stream with other line ends than these is held to its end: late, never changed.)
            lf, crlf = data.rfind(b"\n\n"), data.rfind(b"\r\n\r\n")
            end = max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)
            whole, self._held = data[:end], data[end:]
        if _EMPTY_CHOICES.search(whole) is None:
            return whole  # no empty `choices`: no usage chunk, without a look at each event
        return _without_usage_chunk(whole)

    def close(self) -> bytes:
        held, self._held = self._held, b""
        return held


def _ends_with_usage(events: bytes) -> bool:
    last = next(iter_json(events, backwards=True), None)
    return _is_usage_chunk(last)


def _is_usage_chunk(chunk: Any) -> bool:
    return isinstance(chunk, dict) and chunk.get("choices") == [] and isinstance(chunk.get("usage"), dict)


def _without_usage_chunk(events: bytes) -> bytes:
    """`events` less the usage chunk. Only an event holding a usage object is parsed: under load a
    read holds a whole stream's events, and parsing each was a tenth of a stream's CPU."""
    kept: list[bytes] = []
    at = 0  # where the events not yet sent on start
    for match in _USAGE_OBJECT.finditer(events):
        if match.start() < at:
            continue  # inside the event just looked at
        lf, crlf = events.rfind(b"\n\n", at, match.start()), events.rfind(b"\r\n\r\n", at, match.start())
        start = max(lf + 2 if lf >= 0 else at, crlf + 4 if crlf >= 0 else at)
        lf, crlf = events.find(b"\n\n", match.end()), events.find(b"\r\n\r\n", match.end())
        end = min(lf + 2 if lf >= 0 else len(events), crlf + 4 if crlf >= 0 else len(events))
        event = events[start:end]
        if any(_is_usage_chunk(_json(parsed.data)) for parsed in iter_events(event)):
            kept.append(events[at:start])
            at = end
    if not kept:
        return events
    kept.append(events[at:])
    return b"".join(kept)


def _json(data: bytes | None) -> Any:
    if data is None or not data.startswith(b"{"):
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _chunks(events: bytes, kind: str) -> tuple[Document, dict[int, Document], Any] | None:
    """A stream's head fields, its choices by index (each chunk's choice objects in order), usage."""
    head: Document = {}
    choices: dict[int, list[Document]] = {}
    usage = None
    for chunk in iter_json(events):
        if not isinstance(chunk, dict):
            continue
        # Azure's first chunk, the prompt filter's, names no kind, id or model ("", created 0):
        # such empty values are no answer's.
        if "error" in chunk or (chunk.get("object") or kind) != kind:
            return None  # an error event, or not this API's stream
        head |= {name: chunk[name] for name in _HEAD if name not in head and chunk.get(name)}
        if isinstance(filters := chunk.get("prompt_filter_results"), list):
            head.setdefault("prompt_filter_results", filters)  # Azure's whole answer has it too
        if isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and isinstance(choice.get("index", 0), int):
                choices.setdefault(choice.get("index", 0), []).append(choice)
    if not choices:
        return None
    return head, {index: _merged(parts) for index, parts in choices.items()}, usage


def _merged(parts: list[Document]) -> Document:
    """One choice from its chunks: deltas (or texts) joined, logprobs appended, the last finish reason."""
    merged: Document = {"delta": {}, "text": "", "logprobs": None, "finish_reason": None}
    for part in parts:
        if isinstance(part.get("delta"), dict):
            _merge(merged["delta"], part["delta"])
        if isinstance(part.get("text"), str):
            merged["text"] += part["text"]
        if isinstance(part.get("logprobs"), dict):
            merged["logprobs"] = _joined_logprobs(merged["logprobs"], part["logprobs"])
        if part.get("finish_reason") is not None:
            merged["finish_reason"] = part["finish_reason"]
    return merged


def _merge(target: Document, delta: Document) -> None:
    """Fold a delta into what came before: strings are concatenated (content, refusal, a tool call's
    arguments, a provider's `reasoning_content`), tool calls matched by their index."""
    for key, value in delta.items():
        before = target.get(key)
        if key == "tool_calls" and isinstance(value, list):
            calls = target.setdefault("tool_calls", {})
            for call in value:
                if isinstance(call, dict):
                    _merge(calls.setdefault(call.get("index", 0), {}), call)
        elif isinstance(value, str) and isinstance(before, str) and key not in _SET_ONCE:
            target[key] = before + value
        elif isinstance(value, dict):
            if not isinstance(before, dict):
                before = target[key] = {}
            _merge(before, value)
        elif value is not None or key not in target:
            target[key] = value


def _joined_logprobs(before: Document | None, more: Document) -> Document:
    """Logprobs of consecutive chunks, each list extended (chat: `content`; legacy: `tokens`, ...)."""
    joined = dict(before or {})
    for key, value in more.items():
        if isinstance(value, list) and isinstance(joined.get(key), list):
            joined[key] = joined[key] + value
        elif key not in joined or joined[key] is None:
            joined[key] = value
    return joined


def _chat_document(events: bytes) -> Document | None:
    read = _chunks(events, "chat.completion.chunk")
    if read is None:
        return None
    head, choices, usage = read
    out = []
    for index in sorted(choices):
        message = choices[index]["delta"]
        calls = message.pop("tool_calls", None)
        message.setdefault("role", "assistant")
        message.setdefault("content", None)
        message.setdefault("refusal", None)
        if calls:
            message["tool_calls"] = [
                {k: v for k, v in call.items() if k != "index"} for _, call in sorted(calls.items())
            ]
            message["content"] = message["content"] or None  # OpenAI's tool-call answers: null content
        out.append(
            {
                "index": index,
                "message": message,
                "logprobs": choices[index]["logprobs"],
                "finish_reason": choices[index]["finish_reason"],
            }
        )
    return _document(head, "chat.completion", out, usage)


def _completion_document(events: bytes) -> Document | None:
    read = _chunks(events, "text_completion")
    if read is None:
        return None
    head, choices, usage = read
    out = [
        {
            "text": choices[index]["text"],
            "index": index,
            "logprobs": choices[index]["logprobs"],
            "finish_reason": choices[index]["finish_reason"],
        }
        for index in sorted(choices)
    ]
    return _document(head, "text_completion", out, usage)


def _document(head: Document, kind: str, choices: list[Document], usage: Any) -> Document:
    document = {"id": head.get("id", ""), "object": kind, "created": head.get("created", 0)}
    document |= {"model": head.get("model", ""), "choices": choices}
    if usage is not None:
        document["usage"] = usage
    document |= {name: head[name] for name in _KEPT if name in head}
    return document


def _chat_events(document: Document, include_usage: bool) -> bytes | None:
    head = _chunk_head(document, "chat.completion", "chat.completion.chunk", include_usage)
    choices = document.get("choices")
    if head is None or not isinstance(choices, list):
        return None
    chunks = []
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            return None
        index = choice.get("index", 0)
        delta = {k: v for k, v in message.items() if k != "role" and v is not None and v != []}
        if isinstance(delta.get("tool_calls"), list):
            delta["tool_calls"] = [
                {"index": n, **call} for n, call in enumerate(delta["tool_calls"]) if isinstance(call, dict)
            ]
        opening = {"role": message.get("role", "assistant"), "content": "", "refusal": None}
        chunks.append(_choice_chunk(head, index, opening))
        if delta:
            chunks.append(_choice_chunk(head, index, delta, logprobs=choice.get("logprobs")))
        chunks.append(_choice_chunk(head, index, {}, finish_reason=choice.get("finish_reason")))
    return _events(head, chunks, document.get("usage") if include_usage else None)


def _completion_events(document: Document, include_usage: bool) -> bytes | None:
    head = _chunk_head(document, "text_completion", "text_completion", include_usage)
    choices = document.get("choices")
    if head is None or not isinstance(choices, list):
        return None
    chunks = []
    for choice in choices:
        if not isinstance(choice, dict) or not isinstance(choice.get("text"), str):
            return None
        index = choice.get("index", 0)
        text = {
            "text": choice["text"],
            "index": index,
            "logprobs": choice.get("logprobs"),
            "finish_reason": None,
        }
        end = {"text": "", "index": index, "logprobs": None, "finish_reason": choice.get("finish_reason")}
        chunks += [{**head, "choices": [text]}, {**head, "choices": [end]}]
    return _events(head, chunks, document.get("usage") if include_usage else None)


def _chunk_head(document: Document, kind: str, chunk_kind: str, include_usage: bool) -> Document | None:
    if document.get("object", kind) != kind:
        return None
    head = {"id": document.get("id", ""), "object": chunk_kind, "created": document.get("created", 0)}
    head |= {name: document[name] for name in _HEAD[2:] if name in document}
    if include_usage:
        head["usage"] = None  # as OpenAI sends every chunk once the usage chunk was asked for
    return head


def _choice_chunk(
    head: Document, index: int, delta: Document, logprobs: Any = None, finish_reason: Any = None
) -> Document:
    choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}
    return {**head, "choices": [choice]}


def _events(head: Document, chunks: list[Document], usage: Any) -> bytes:
    if isinstance(usage, dict):
        chunks.append({**head, "choices": [], "usage": usage})
    return b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks) + _DONE
