"""ReadableBody: a body meant as JSON that the gateway cannot read is refused, never forwarded.

A body orjson rejects but an upstream may accept (NaN, a lone surrogate escape, a byte order mark)
has no model, tokens or price the gateway could read, so forwarding it would let it pass every
token and cost limit uncounted. It is the client's 400 instead, saying what is wrong and at which
byte (`providers/json_body.py`); whether a body is meant as JSON is what its Content-Type declares
(`providers.base.unreadable`). Placed right after Plan: nothing is cached, guarded or sent for it,
and the log stage records the refusal like any other 400.
"""

from __future__ import annotations

from sluicegate.errors import BadRequest
from sluicegate.exchange import Exchange, Reply
from sluicegate.pipeline import Handler
from sluicegate.providers.base import unreadable


class ReadableBody:
    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        # Only the client's own body can be unreadable: the steps the gateway writes (universal,
        # compat) are encoded by orjson itself.
        for step in exchange.plan.steps:
            problem = unreadable(step.facts, step.body, step.headers.get("Content-Type"))
            if problem is not None:
                raise BadRequest(problem.message, byte=problem.byte)
        return await call_next(exchange)
