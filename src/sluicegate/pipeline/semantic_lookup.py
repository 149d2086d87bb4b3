"""What a request asks of the semantic cache (`read_lookup`): whether it applies (gateway setting,
per-request override), the threshold (the request's own, or the adapted one), the scope, and
Cache-Control's TTL and bypass (`pipeline.cache_control`, the exact cache's rules), with the exact
cache's skips (`cf-aig-skip-cache`, `cf-aig-cache-ttl: 0`)."""

from __future__ import annotations

from dataclasses import dataclass

from sluicegate.exchange import IncomingRequest, RequestPlan, Step
from sluicegate.gateway import Gateway
from sluicegate.pipeline.cache_asks import first_step_ask
from sluicegate.pipeline.cache_control import parse_cache_control
from sluicegate.pipeline.cache_keys import (
    answer_variant,
    credential_fingerprint,
    keyed_payload,
    segment_of,
    upstreams_of,
)
from sluicegate.pipeline.header_values import SEMANTIC_THRESHOLD_HEADER as THRESHOLD_HEADER
from sluicegate.pipeline.header_values import semantic_threshold
from sluicegate.pipeline.overrides import OVERRIDES_HEADER, parse_overrides
from sluicegate.semantic.adaptive import AdaptiveThresholds
from sluicegate.semantic.scope import Origin, Scoped, read_scope


@dataclass(frozen=True, slots=True)
class Lookup:
    scoped: Scoped
    threshold: float
    ttl: int
    gateway: str  # account/slug
    # Cache-Control (`pipeline.cache_control`) and the exact cache's skips: may a stored answer be
    # served? (If not, the request is a BYPASS.) May this answer be stored?
    lookup: bool = True
    store: bool = True


def _endpoint(step: Step) -> tuple[str, str]:
    """The endpoint and query parts of a scope: streamed or not, one scope (Gemini's `alt=sse` is out
    of the unstreamed route's query); an answer translated into another API's shape (the compat
    endpoint's) is kept apart from the provider's own answers. The query is the exact and named keys'
    (Azure's `api-version` decides the answer's shape)."""
    route = step.facts.answer_route or step.route
    endpoint = route.path if step.reader is None else f"{step.reader.name}<-{route.path}"
    return endpoint, route.query


def read_lookup(
    request: IncomingRequest, gateway: Gateway, plan: RequestPlan, adaptive: AdaptiveThresholds
) -> Lookup | None:
    """The lookup to make for a request to `gateway` planned as `plan`, or None when the semantic
    cache does not apply; 400 on bad headers. `adaptive` holds the gateway's adapted threshold."""
    headers = request.headers
    if request.method != "POST" or len(plan.steps) == 0:
        return None
    # Already checked by Resolve (`read_options`), on every request, whatever answers it.
    asked = semantic_threshold(headers[THRESHOLD_HEADER]) if THRESHOLD_HEADER in headers else None
    enabled = gateway.settings.semantic_cache_enabled
    if OVERRIDES_HEADER in headers:
        enabled = parse_overrides(headers[OVERRIDES_HEADER]).get("semantic_cache_enabled", enabled)
    if not enabled:
        return None
    name = f"{request.account}/{request.gateway_slug}"
    settings = gateway.settings
    if asked is not None:  # the request's own threshold: not adapted
        threshold = asked
    else:
        threshold = adaptive.threshold(name, settings.semantic_threshold, settings.semantic_max_error)
    step = plan.steps[0]  # a universal request is scoped by its first step
    if not step.facts.cacheable:
        return None
    endpoint, query = _endpoint(step)
    origin = Origin(
        gateway=name,
        provider=step.provider.name,
        endpoint=endpoint,
        query=query,
        upstream=upstreams_of(plan.steps),
        segment=segment_of(headers),  # the exact cache's keys hold it too (cache_keys.py)
        credentials=credential_fingerprint(plan.steps) if settings.cache_per_key else "",
        variant=answer_variant(plan.steps),
    )
    scoped = read_scope(origin, keyed_payload(step), step.provider.conversations)
    if not isinstance(scoped, Scoped):
        return None
    control = parse_cache_control(headers.getall("cache-control", []))
    # `cf-aig-skip-cache` and `cf-aig-cache-ttl: 0` keep a request out of this cache as out of the
    # exact one: neither read nor store (a BYPASS, `cache_labels.py`).
    declined = first_step_ask(headers, plan.steps).declines
    ttl = settings.cache_ttl if control.max_age is None else control.max_age
    lookup, store = control.lookup and not declined, control.store and not declined
    return Lookup(scoped, threshold, ttl, name, lookup=lookup, store=store)
