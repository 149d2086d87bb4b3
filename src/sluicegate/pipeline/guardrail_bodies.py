"""The request bodies the guardrails stage reads and rewrites (guardrails.py): a step's body as it
goes upstream, the client's own as the log keeps it (rewritten alike, or masked when a rule
blocked it), the universal array with each step's rewritten `query`; and a body refused before it
is read, one with a repeated key (guardrails/duplicate_keys.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import orjson

from sluicegate.errors import BadRequest, DuplicateKey
from sluicegate.exchange import IncomingRequest, RequestPlan, Step
from sluicegate.guardrails.bodies import rewrite
from sluicegate.guardrails.detector import Span
from sluicegate.guardrails.duplicate_keys import duplicate_key
from sluicegate.guardrails.guard import Guard
from sluicegate.guardrails.placeholders import Vault, redact
from sluicegate.guardrails.runs import JOINS, RunChange, place
from sluicegate.jsondepth import encode
from sluicegate.providers.openai_texts import CHAT_TEXTS
from sluicegate.providers.texts import TextFormat

SINGLE_STEP_KINDS = ("provider", "host", "host-compat")  # the client's body is the step's
_INLINE = 256 * 1024  # a body up to this size is checked for repeated keys on the event loop (~1 ms)


async def repeated_keys(request: IncomingRequest, plan: RequestPlan) -> BadRequest | None:
    """The refusal of a body the guardrails read that repeats a key within one object: they read
    its last value, a provider may read its first (duplicate_keys.py). None for any other body,
    which pays nothing: one the guardrails do not read is not looked at. A large body is looked at
    off the event loop (a 4 MB one, mostly an image's base64, takes about 15 ms)."""
    read = request.kind == "compat" or any(
        isinstance(step.facts.payload, dict) and step.provider.text_format(step.route, step.facts.payload)
        for step in plan.steps
    )
    if not read:
        return None
    body = plan.body
    found = duplicate_key(body) if len(body) <= _INLINE else await asyncio.to_thread(duplicate_key, body)
    if found is None:
        return None
    if found.unchecked:
        return BadRequest(
            "the request body is nested too deeply for the gateway's guardrails to check it for "
            "repeated keys; send it with less nesting"
        )
    return DuplicateKey(
        f"the request body has the key {found.key!r} more than once in the same object (at "
        f"{found.path}): JSON readers differ on which value counts (the gateway's guardrails read "
        "the last, a provider may read the first), so it cannot be checked; send each key once",
        param=found.path,
        key=found.key,
    )


Change = Callable[[str, str], str]


def rewritten_step(step: Step, change: Change, joined: RunChange | None = None) -> Step | None:
    """The step with its body changed (and its facts read again), or None when nothing changed;
    `joined` changes the text parts of one message together (guardrails/runs.py)."""
    text_format = step.provider.text_format(step.route, step.facts.payload)
    if text_format is None or not isinstance(step.facts.payload, dict):
        return None
    payload = orjson.loads(step.body)  # a copy of its own: the walkers rewrite it in place
    if not rewrite(text_format, payload, change, joined):
        return None
    body = encode(payload)
    return dataclasses.replace(step, body=body, facts=step.provider.read_request(step.route, body))


def rewritten(body: bytes, text_format: TextFormat, change: Change, joined: RunChange | None = None) -> bytes:
    """The client's own body with the same changes (same vault: same placeholders), for the log."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    return encode(payload) if rewrite(text_format, payload, change, joined) else body


def masked_client_body(
    request: IncomingRequest,
    body: bytes,
    steps: list[Step],
    guard: Guard,
    vault: Vault,
    found: Callable[[list[Span]], None],
) -> bytes | None:
    """A blocked request is still logged: with what blocked it as placeholders in its body, or
    (None: a universal array, whose steps may differ in format) without its bodies. `found` is
    told of each value a block rule matches there."""
    step = steps[0] if steps else None
    if request.kind == "compat":
        text_format: TextFormat | None = client_format(request)
    elif request.kind in SINGLE_STEP_KINDS and step is not None:
        text_format = step.provider.text_format(step.route, step.facts.payload)
    else:
        text_format = None
    if text_format is None:
        return None
    blocking = guard.scanner("request", "block")

    def masked(text: str, _role: str) -> str:
        text, spans = redact(text, blocking, vault)
        found(spans)
        return text

    def masked_run(texts: list[str], _role: str) -> list[str]:
        for join in JOINS:  # a value split across a message's parts, as the block found it
            spans = blocking.find(join.join(texts))
            found(spans)
            texts = place(texts, join, spans, vault) if spans else texts
        return texts

    return rewritten(body, text_format, masked, masked_run)


def client_format(request: IncomingRequest) -> TextFormat:
    """How the client's own body reads on the compat endpoint: OpenAI chat, or its API's (ingress/)."""
    return request.ingress.text_format if request.ingress is not None else CHAT_TEXTS


def universal_body(body: bytes, steps: list[Step], changed: list[bool]) -> bytes:
    """The universal array with each rewritten step's `query` replaced, so the log holds no more
    than the upstreams saw."""
    raw: Any = orjson.loads(body)
    items = raw if isinstance(raw, list) else [raw]
    for item, step, rewritten in zip(items, steps, changed, strict=False):
        if rewritten and isinstance(item, dict):
            item["query"] = orjson.loads(step.body)
    return encode(raw)
