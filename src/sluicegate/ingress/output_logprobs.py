"""Chat's log probabilities (a choice's `logprobs.content`) as the Responses API's `logprobs` of an
output_text part and of its stream's `response.output_text.delta` events: the same tokens, each
with its `top_logprobs` (https://platform.openai.com/docs/api-reference/responses/object, and
…/chat/object#chat/object-choices). Asked for by `include: ["message.output_text.logprobs"]`
(request_fields.py); without it the list is empty, as OpenAI's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def output_logprobs(logprobs: Any) -> list[dict[str, Any]]:
    """The Responses logprobs of a chat choice's (or chunk choice's) `logprobs` object."""
    content = logprobs.get("content") if isinstance(logprobs, Mapping) else None
    return [_token(entry, top=True) for entry in content or () if isinstance(entry, Mapping)]


def _token(entry: Mapping[str, Any], top: bool) -> dict[str, Any]:
    token = entry["token"] if isinstance(entry.get("token"), str) else ""
    raw = entry.get("bytes")
    logprob: dict[str, Any] = {
        "token": token,
        "logprob": entry.get("logprob", 0.0),
        "bytes": raw if isinstance(raw, list) else list(token.encode()),
    }
    if top:
        alternatives = entry.get("top_logprobs")
        logprob["top_logprobs"] = [
            _token(other, top=False) for other in alternatives or () if isinstance(other, Mapping)
        ]
    return logprob
