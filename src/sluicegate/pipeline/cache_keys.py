"""What a cached answer is filed under: the boundaries no cache entry crosses.

Every key starts with `{account}/{gateway}/`, so no entry crosses gateways and a purge of one
gateway is a prefix. Below that:

- **exact** `{digest}`: the endpoint kind, then per step its provider, method, upstream path,
  query and canonical body (sorted keys, no whitespace).
- **custom** (`cf-aig-cache-key`) `custom:{sha256(name)}/{digest}`: the client's name stands in for
  the body and nothing more. The digest keeps kind, provider, method, path and query, so a name
  never reaches another provider or endpoint; streamed or not, one name is one entry, served in
  the form each request asks for (`cache.served`; embeddings in the encoding asked for): where the
  route names the stream choice (Gemini's `:streamGenerateContent?alt=sse`), the route of the call
  unstreamed is hashed instead (`RequestFacts.answer_route`, the provider's knowledge). The name
  comes first, so one name's entries can be purged together.
- **semantic** `sem:{scope}/{id}` (semantic/scope.py): gateway, provider, endpoint, segment and
  the body's fixed parts.

All three also hold the headers that change the provider's answer (`Provider.answer_headers`:
Anthropic's `anthropic-beta`), when sent.

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
from urllib.parse import parse_qs

import orjson

from sluicegate.credentials import SECRET_HEADERS
from sluicegate.exchange import IncomingRequest, RequestPlan, Step
from sluicegate.headertext import header_bytes
from sluicegate.jsondepth import encode

CUSTOM = "custom:"


def exact_key(request: IncomingRequest, plan: RequestPlan, per_key: bool) -> str:
    """The entry of this exact request; unchanged from earlier versions (stored entries still hit)
    except that, per key, a provider's key query parameter (`?key=`) now counts as a credential."""
    digest = hashlib.sha256(_kind(request, plan).encode())
    for step in plan.steps:
        payload = step.facts.payload
        body = step.body if payload is None else encode(payload, option=orjson.OPT_SORT_KEYS)
        digest.update(_joined(step.provider.name, request.method, step.route.path, step.route.query))
        digest.update(b"\0" + body)
        for variant in _answer_variants(step):
            digest.update(b"\0" + variant)
        if per_key:
            for credential in _credentials(step):
                digest.update(b"\0" + credential)
    return f"{request.account}/{request.gateway_slug}/{digest.hexdigest()}"


def custom_key(request: IncomingRequest, plan: RequestPlan, name: str, per_key: bool) -> str:
    """The entry `cf-aig-cache-key: name` names for this provider, endpoint and (per key) key."""
    digest = hashlib.sha256(b"custom\0" + _kind(request, plan).encode())
    for step in plan.steps:
        route = step.facts.answer_route or step.route  # a streamed Gemini call files as its whole one
        digest.update(_joined(step.provider.name, request.method, route.path, route.query))
        for variant in _answer_variants(step):
            digest.update(b"\0" + variant)
        if per_key:
            for credential in _credentials(step):
                digest.update(b"\0" + credential)
    return f"{custom_prefix(request.account, request.gateway_slug, name)}{digest.hexdigest()}"


def custom_prefix(account: str, gateway: str, name: str) -> str:
    """Where every entry stored under the `cf-aig-cache-key` `name` lives: one purge removes them all."""
    return f"{account}/{gateway}/{CUSTOM}{hashlib.sha256(header_bytes(name)).hexdigest()}/"


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
