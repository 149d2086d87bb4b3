"""What a semantic-cache lookup compares, and what it must never cross.

A request is split in two:

- the **scope**: everything that must match *exactly* for a stored answer to be reusable: the
  gateway, provider, the servers the request goes to, endpoint and its query, cache-key segment,
  the provider credentials when the gateway keeps entries per key (`cache_per_key`), and the body
  minus its last user message's text, its earlier conversation turns and a few sampling fields
  (so: model, system prompt, tool definitions, response format, output limits, any non-text part
  of the last message, and the number and roles of the compared earlier turns). Its digest names the
  partition of the vector index that is searched, so a hit is never wrong for a structural reason.
- the **turns** compared by meaning: the last user message's `text`, then the `context`, the
  earlier turns it depends on, most recent first (`history`: the exchange before it, and further
  back while a turn refers to an earlier one). Turns it does not depend on are left out, their
  names and numbers kept in the scope. A history that is not plain text, or whose left-out turns
  set terms ("Answer in French"), is part of the scope instead, byte for byte (`history` says
  when).

The body is read by the provider's conversation readers (`Provider.conversations`, in
`providers/`), tried in order: OpenAI chat completions and Anthropic messages (`messages`), Gemini
(`contents`), legacy completions (a string `prompt`). What may be served, and the digest, are
decided here.

Not eligible (answered upstream, never served semantically): a body none of the provider's readers
reads; a last message not from the user, or without text; tool or function results anywhere in
the conversation; temperature above `max_temperature`; more than one choice (`n`,
`candidateCount`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from sluicegate.headertext import header_bytes
from sluicegate.jsondepth import encode
from sluicegate.providers.conversation import Conversation, ConversationReader, Refusal, Turns
from sluicegate.semantic.history import Message, context

DEFAULT_SEGMENT = "_default_"
# /2: the upstream servers joined the scope; a /1 scope is never searched again (its entries expire).
_VERSION = b"sluicegate-semantic-scope/2"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request was sent. `gateway` is `account/slug`; `endpoint` the provider path and
    `query` its query string, as the exact key holds it (Azure's `api-version`); `upstream` the
    servers its steps go to (one provider name may stand for several: two allowed hosts, a custom
    provider moved); `credentials` a digest of the provider key it goes upstream with, "" when
    entries are shared by every key (pipeline/cache_keys.py)."""

    gateway: str
    provider: str
    endpoint: str
    segment: str = DEFAULT_SEGMENT
    credentials: str = ""
    variant: str = ""  # a digest of the headers that change the answer (`anthropic-beta`), "" for none
    upstream: str = ""  # (pipeline/cache_keys.py `upstreams_of`)
    query: str = ""


@dataclass(frozen=True, slots=True)
class ScopeRules:
    """Which requests may be served by meaning (the issue's defaults)."""

    max_temperature: float = 1.0
    allow_multiple_choices: bool = False
    allow_tool_results: bool = False


@dataclass(frozen=True, slots=True)
class Scoped:
    """`scope` starts with the gateway (`account/slug/`), so a purge by gateway prefix works.
    `context`: the earlier turns compared by meaning, most recent first (empty for none)."""

    scope: str
    text: str
    context: tuple[str, ...] = ()

    @property
    def turns(self) -> tuple[str, ...]:
        """Everything compared by meaning, the last question first."""
        return (self.text, *self.context)


@dataclass(frozen=True, slots=True)
class Ineligible:
    reason: str


def read_scope(
    origin: Origin, payload: Any, readers: Sequence[ConversationReader], rules: ScopeRules = ScopeRules()
) -> Scoped | Ineligible:
    """The scope and text of a request body (parsed JSON), or why it cannot be served semantically.
    `readers`: those of the provider's API (`Provider.conversations`), tried in order."""
    if not isinstance(payload, dict):
        return Ineligible("the body is not a JSON object")
    for reader in readers:
        found = reader.read(payload)
        if isinstance(found, Refusal):
            return Ineligible(found.reason)
        if found is not None:
            turns = _eligible(found, rules)
            return turns if isinstance(turns, Ineligible) else _scoped(origin, payload, turns)
    if not readers:
        return Ineligible("the provider's bodies have no shape the semantic cache reads")
    fields = [reader.field for reader in readers]
    listed = " or ".join(filter(None, (", ".join(fields[:-1]), fields[-1])))
    return Ineligible(f"no {listed} to compare")


def _eligible(conversation: Conversation, rules: ScopeRules) -> Turns | Ineligible:
    """The turns of a conversation the rules let be served by meaning, or why not (in this order)."""
    refusal = _sampling(conversation.temperature, conversation.choices, rules)
    if refusal is not None:
        return refusal
    if conversation.tool_results and not rules.allow_tool_results:
        return Ineligible("the conversation carries tool results")
    turns = conversation.turns
    if isinstance(turns, Refusal):
        return Ineligible(turns.reason)
    if not turns.text.strip():
        return Ineligible("the last user message has no text")
    return turns


def _scoped(origin: Origin, payload: dict[str, Any], turns: Turns) -> Scoped:
    exact, compared = _with_history(turns)
    digest = hashlib.sha256(_VERSION)
    for part in (origin.gateway, origin.provider, origin.upstream, origin.endpoint, origin.segment):
        digest.update(b"\0" + header_bytes(part))  # the segment is a header value
    if origin.credentials:  # only when set, so the scopes of shared entries stay as they were
        digest.update(b"\0credentials:" + origin.credentials.encode())
    if origin.variant:
        digest.update(b"\0variant:" + origin.variant.encode())
    if origin.query:  # only when sent, so the scopes of requests without one stay as they were
        digest.update(b"\0query:" + header_bytes(origin.query))
    digest.update(b"\0" + encode(exact, option=orjson.OPT_SORT_KEYS, source=payload))
    return Scoped(f"{origin.gateway}/sem:{digest.hexdigest()}", turns.text.strip(), compared)


def _with_history(turns: Turns) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The exact scope and the compared context: earlier turns out of the exact scope when
    `history.context` can compare them by meaning, their number and roles staying in it. With no
    earlier turns, or when they must match exactly, `exact` is kept as it is (so are the scopes of
    entries stored before turns were compared)."""
    found = context([Message(turn.role, turn.text) for turn in turns.earlier]) if turns.earlier else None
    if found is None:
        return turns.exact, ()
    history = {
        "earlier": list(turns.systems),
        "turns": list(found.roles),
        "left_out": list(found.left_out),
        "said": list(found.said),
    }
    return turns.exact | history, found.texts


def _sampling(temperature: Any, choices: Any, rules: ScopeRules) -> Ineligible | None:
    if temperature is not None:
        if not isinstance(temperature, int | float) or isinstance(temperature, bool):
            return Ineligible("temperature is not a number")
        if temperature > rules.max_temperature:
            return Ineligible(f"temperature {temperature} is above {rules.max_temperature}")
    if choices is not None and choices != 1 and not rules.allow_multiple_choices:
        return Ineligible("more than one choice was asked for")
    return None
