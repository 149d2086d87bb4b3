"""A chat request's fields its provider refuses, left out of what goes upstream.

The compat endpoint promises one OpenAI format for every provider, and a server may refuse fields of
it that change no answer: Mistral answers 422 `extra_forbidden` to `user` (a tag) and to
`stream_options` (its streams report their usage unasked, on their last chunk). Its step names them
(`Step.unsent`, from `OpenAICompatible.chat_refuses`) and they are left out here, when the body
goes upstream, as `stream_usage.py` adds what the gateway asks: the cache keys, the log, the
guardrails and a cached answer's form (`stream_options.include_usage` asked) see the client's body.
"""

from __future__ import annotations

import orjson

from sluicegate.exchange import Step


def without_unsent(step: Step, body: bytes) -> bytes:
    """`body` (what `step` goes upstream with) less the top-level fields in `step.unsent`."""
    payload = step.facts.payload
    if not step.unsent or not isinstance(payload, dict) or step.unsent.isdisjoint(payload):
        return body  # (most requests: not parsed again)
    try:
        document = orjson.loads(body)  # the body sent: a guardrail may have written it again
    except orjson.JSONDecodeError:
        return body
    if not isinstance(document, dict):
        return body
    return orjson.dumps({name: value for name, value in document.items() if name not in step.unsent})
