"""What a cached answer is filed under: the boundaries no cache entry crosses.

Every key starts with `{account}/{gateway}/`, so no entry crosses gateways and a purge of one
gateway is a prefix. Below that:

- **exact** `{digest}`: the endpoint kind, then per step its provider, upstream (`upstream_of`),
  method, upstream path, query and canonical body (sorted keys, no whitespace; a chat request's
  `max_completion_tokens` read as `max_tokens`, `keyed_payload`).
- **custom** (`cf-aig-cache-key`) `custom:{sha256(name)}/{digest}`: the client's name stands in for
  the body and nothing more. The digest keeps kind, provider, upstream, method, path and query, so
  a name never reaches another provider, server or endpoint (Cloudflare's name overrides a default
  key whose provider is one server); streamed or not, one name is one entry, served in
  the form each request asks for (`cache.served`; embeddings in the encoding asked for): where the
  route names the stream choice (Gemini's `:streamGenerateContent?alt=sse`), the route of the call
  unstreamed is hashed instead (`RequestFacts.answer_route`, the provider's knowledge). The name
  comes first, so one name's entries can be purged together.
- **semantic** `sem:{scope}/{id}` (semantic/scope.py): gateway, provider, every step's upstream
  (`upstreams_of`), endpoint, segment and the body's fixed parts.

A provider name does not name one server: every allowed host of host-in-path is
`openai-compatible`, an account's `custom-{slug}` may be moved to another base URL, `upstreams`
and `workers_ai_account_id` may change across a restart while the cache (SQLite, Redis) outlives
it. So each step's upstream is part of every key: the base URL the Plan stage resolved for it
(`Step.base_url`) and the account its route runs in (Workers AI's Cloudflare account). Keys written
before it was part of them are never computed again: those entries miss and expire.

All three also hold the headers that change the provider's answer (`Provider.answer_headers`:
Anthropic's `anthropic-beta` and `anthropic-version`), when sent, and Fastly's segment
(`x-semantic-cache-key`, `segment_of`): Fastly serves a cached answer only to requests "whose
x-semantic-cache-key matches", so a segment (often a tenant) never gets another's answer from any
cache, nor waits for another's identical request in flight (coalescing is by key). The exact and
named keys hold it only when one other than `_default_` is sent: the keys of requests without one
stay as they were.

With the gateway's `cache_per_key` (the default), all three also hold the provider credentials the
client brings, or the name of the stored key it chose (`cf-aig-byok-alias`); stored keys are
otherwise chosen per try, after the cache, so keyless requests share entries:
a hash of each credential header and of the query parameter the provider takes a key in
(`Provider.key_param`: Google's `?key=`), never the key itself. Without it, everyone who may use the
gateway shares its entries, whatever key they bring.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs

import orjson
from multidict import MultiMapping

from sluicegate.credentials import SECRET_HEADERS
from sluicegate.exchange import IncomingRequest, RequestPlan, Step
from sluicegate.headertext import header_bytes
from sluicegate.jsondepth import encode
from sluicegate.providers.openai import WRITTEN_CAP, OpenAICompatible
from sluicegate.semantic.scope import DEFAULT_SEGMENT

CUSTOM = "custom:"
SEGMENT_HEADER = "x-semantic-cache-key"


def exact_key(request: IncomingRequest, plan: RequestPlan, per_key: bool) -> str:
    """The entry of this exact request, on the servers its steps go to."""
    digest = hashlib.sha256(_kind(request, plan).encode() + _segment_part(request))
    for step in plan.steps:
        payload = keyed_payload(step)
        body = step.body if payload is None else encode(payload, option=orjson.OPT_SORT_KEYS)
        digest.update(_joined(step.provider.name, request.method, step.route.path, step.route.query))
        digest.update(upstream_of(step))
        digest.update(b"\0" + body)
        for variant in _answer_variants(step):
            digest.update(b"\0" + variant)
        if per_key:
            for credential in _credentials(step):
                digest.update(b"\0" + credential)
    return f"{request.account}/{request.gateway_slug}/{digest.hexdigest()}"


def keyed_payload(step: Step) -> Any:
    """`step`'s body (parsed) as the exact and semantic keys read it: a chat request to an
    OpenAI-compatible server capped in `max_completion_tokens` alone reads as one capped in
    `max_tokens`, the same cap under its older name. The gateway writes the newer for a Messages or
    Responses client (`WRITTEN_CAP`), where chat clients often send the older: one entry serves
    both. (OpenAI's reasoning models refuse the older name: a chat request with it may be served
    the answer stored for the newer.)"""
    payload = step.facts.payload
    if (
        isinstance(payload, dict)
        and WRITTEN_CAP in payload
        and "max_tokens" not in payload
        and isinstance(step.provider, OpenAICompatible)
        and step.route.path.rstrip("/").endswith("chat/completions")
    ):
        payload = {("max_tokens" if name == WRITTEN_CAP else name): value for name, value in payload.items()}
    return payload


def custom_key(request: IncomingRequest, plan: RequestPlan, name: str, per_key: bool) -> str:
    """The entry `cf-aig-cache-key: name` names for this provider, server, endpoint and (per key)
    key: a name stands for a body, never for another server's answer to it."""
    digest = hashlib.sha256(b"custom\0" + _kind(request, plan).encode() + _segment_part(request))
    for step in plan.steps:
        route = step.facts.answer_route or step.route  # a streamed Gemini call files as its whole one
        digest.update(_joined(step.provider.name, request.method, route.path, route.query))
        digest.update(upstream_of(step))
        for variant in _answer_variants(step):
            digest.update(b"\0" + variant)
        if per_key:
            for credential in _credentials(step):
                digest.update(b"\0" + credential)
    return f"{custom_prefix(request.account, request.gateway_slug, name)}{digest.hexdigest()}"


def custom_prefix(account: str, gateway: str, name: str) -> str:
    """Where every entry stored under the `cf-aig-cache-key` `name` lives: one purge removes them all."""
    return f"{account}/{gateway}/{CUSTOM}{hashlib.sha256(header_bytes(name)).hexdigest()}/"


def segment_of(headers: MultiMapping[str]) -> str:
    """Fastly's segment of a request (`x-semantic-cache-key`): `_default_` when it names none (or
    an empty one), as Fastly files such requests."""
    return headers.get(SEGMENT_HEADER) or DEFAULT_SEGMENT


def _segment_part(request: IncomingRequest) -> bytes:
    """The segment as a key part, b"" for the default one. It opens with byte 1, which no endpoint
    kind holds, so a segmented key's input never equals an unsegmented one's."""
    segment = segment_of(request.headers)
    return b"" if segment == DEFAULT_SEGMENT else b"\x01segment\0" + header_bytes(segment)


def upstream_of(step: Step) -> bytes:
    """The server `step` goes to, as a key part: its base URL and the account its route runs in."""
    return b"\0@" + header_bytes(_upstream(step))


def upstreams_of(steps: Sequence[Step]) -> str:
    """Every step's provider and server, in order, for the semantic scope: a universal request is
    scoped by its first step's body, but any of its steps may answer."""
    return "\n".join(f"{step.provider.name}\0{_upstream(step)}" for step in steps)


def _upstream(step: Step) -> str:
    """Plan sets `base_url` on every step; one built without it (stage tests) goes to its
    provider's default. Two strings the step already holds: nothing to look up per request."""
    return f"{(step.base_url or step.provider.default_base_url).rstrip('/')}\0{step.route.account}"


def credential_fingerprint(steps: Sequence[Step]) -> str:
    """One digest of every step's provider credentials, for the semantic scope ("" when none)."""
    return _steps_digest(steps, _credentials)


def answer_variant(steps: Sequence[Step]) -> str:
    """One digest of the headers that change what each step's provider answers, for the semantic
    scope ("" when none is sent)."""
    return _steps_digest(steps, _answer_variants)


def _steps_digest(steps: Sequence[Step], parts: Callable[[Step], Iterator[bytes]]) -> str:
    """A digest of each step's `parts`, numbered by step; "" when no step has any, so the scopes
    of requests without them stay as they were."""
    digest = hashlib.sha256()
    found = False
    for index, step in enumerate(steps):
        for part in parts(step):
            digest.update(index.to_bytes(2, "big") + part)
            found = True
    return digest.hexdigest() if found else ""


def _answer_variants(step: Step) -> Iterator[bytes]:
    """`name:value` of each header the provider's answer depends on (`Provider.answer_headers`),
    only those sent: the keys of requests without them stay as they were."""
    for name in step.provider.answer_headers:
        for value in step.headers.getall(name, ()):
            yield header_bytes(f"{name}:{value}")


def _credentials(step: Step) -> Iterator[bytes]:
    """A hash per credential the step carries: its secret headers, and the query parameter its
    provider takes a key in instead of a header (`key_param`), hashed as `?{param}={value}`."""
    for name, value in sorted(step.headers.items()):
        if name.lower() in SECRET_HEADERS:
            yield hashlib.sha256(header_bytes(f"{name.lower()}:{value}")).digest()
    if step.key_alias is not None:  # a stored key chosen by name: kept apart as a key sent would be
        yield hashlib.sha256(header_bytes(f"stored-key:{step.key_alias}")).digest()
    param = step.provider.key_param
    if param is not None and f"{param}=" in step.route.query:
        for value in parse_qs(step.route.query).get(param, ()):
            yield hashlib.sha256(f"?{param}={value}".encode()).digest()


def _kind(request: IncomingRequest, plan: RequestPlan) -> str:
    """The endpoint kind, and for a compat request passed untranslated to its own API's provider
    that API: its answers are that provider's, not chat's, and must not meet a chat request that
    a translator turned into the same body."""
    if request.ingress is not None and plan.hub is None:
        return f"{request.kind}:{request.ingress.name}"
    return request.kind


def _joined(*parts: str) -> bytes:
    return b"".join(b"\0" + part.encode() for part in parts)
