"""What an upstream's refusal of a request sent with a stored key does to that key.

An unprivileged client chooses the request (a run token's holder, anyone on an open gateway), so no
answer it can provoke from a valid key may take that key out for everyone. A 401 is such an answer
on an endpoint the key may not use (an admin endpoint, a scope a restricted key lacks), and so is a
401 or 403 from a destination the client named (Azure's resource, a Vertex project in the path).
Hence:

| the answer | on an inference route | on any other |
|---|---|---|
| 401/403 (or 400) saying the key is invalid (providers/key_errors.py) | `DISABLE` | `REST` |
| 401/403 saying it lacks a permission or scope | `PASS` | `PASS` |
| another 401/403 | `REST` | `PASS` |
| 429 | `COOL` | `COOL` |

An inference route is a generation or an embedding (`RequestFacts.cacheable`) or a realtime
session. `PASS` is the request's own answer: relayed as the upstream gave it, the key untouched and
no other key tried (each would answer the same, and trying them all would only walk the pool). A
`REST` holds the key off for the request's target only, its model at its path (`rest_target`),
for `routing/keypool.py`'s `MODEL_REST`: a client that names a model, a resource or an endpoint no
key may use rests the keys for that alone, never for what the others ask.
"""

from __future__ import annotations

import enum

from sluicegate.exchange import Step
from sluicegate.providers.key_errors import KeySaid, key_said
from sluicegate.routing.keypool import RestTarget

_REFUSED = frozenset({401, 403})


class Verdict(enum.Enum):
    PASS = "pass"  # not about the key, or about this request alone: the key is untouched
    DISABLE = "disable"  # the key is invalid: out until someone enables it; the request moves on
    REST = "rest"  # refused for this target: rests for it; the request moves on
    COOL = "cool"  # a 429: cools down (`out_of_credit`: an hour); the request moves on


def verdict(status: int, body: bytes, inference: bool) -> Verdict:
    """What an answer of `status` with error `body` does to the key it came with, on a route that
    is (`inference`) or is not one the key is known to serve."""
    if status == 429:
        return Verdict.COOL
    if status not in _REFUSED and status != 400:
        return Verdict.PASS
    said = key_said(body, by_message=status != 400)  # a 400 by its codes alone (Google's reason)
    if said is KeySaid.INVALID:
        return Verdict.DISABLE if inference else Verdict.REST
    if status == 400 or said is KeySaid.DENIED or not inference:
        return Verdict.PASS
    return Verdict.REST


def serves_inference(step: Step) -> bool:
    """Whether the step is a generation or an embedding its adapter knows: where a stored key is
    expected to work, so that a refusal there may be about the key."""
    return step.facts.cacheable


def rest_target(step: Step) -> RestTarget:
    """What a rest of a key refused for `step` holds it off: the request's model at its route."""
    return RestTarget(step.facts.model, f"{step.route.account}/{step.route.path}")
