"""Resolve: which gateway and provider a request is for, its body, and the facts the stages need."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson
from multidict import CIMultiDictProxy

from sluicegate.directory import GatewayDirectory
from sluicegate.errors import BadRequest, Unauthorized
from sluicegate.exchange import ClientOptions, Exchange, IncomingRequest, Reply, RequestPlan
from sluicegate.gateway import DEFAULT_ACCOUNT
from sluicegate.headertext import json_header_problem
from sluicegate.hints import unknown_account, unknown_gateway
from sluicegate.paths import check_path
from sluicegate.pipeline import Handler
from sluicegate.pipeline.auth import find_token
from sluicegate.pipeline.header_values import SEMANTIC_THRESHOLD_HEADER, flag, semantic_threshold
from sluicegate.pipeline.overrides import OVERRIDES_HEADER, parse_overrides
from sluicegate.pipeline.own_links import link_answers
from sluicegate.pipeline.retry_headers import policy_from_headers
from sluicegate.pipeline.steps import PlanInput, Planner
from sluicegate.pipeline.workers_ai_account import WorkersAIAccount
from sluicegate.providers.base import unreadable
from sluicegate.reserved import reserved_in
from sluicegate.routing import RouteRefused
from sluicegate.tokens import TokenDirectory
from sluicegate.usage.custom_cost import parse_custom_cost

METADATA_HEADER = "cf-aig-metadata"
CUSTOM_COST_HEADER = "cf-aig-custom-cost"
COLLECT_LOG_HEADER = "cf-aig-collect-log"  # true or false: over the gateway's `collect_logs`
COLLECT_PAYLOAD_HEADER = "cf-aig-collect-log-payload"  # false: keep the record, not the bodies
MAX_METADATA_ENTRIES = 5  # Cloudflare saves the first five and drops the rest
# The keys of the `cf-aig-metadata` entries past the fifth, which were not kept: a JSON array.
METADATA_DROPPED_HEADER = "x-sluicegate-metadata-dropped"
# What the gateway took otherwise than the request asked (`ClientOptions.warnings`), a line each.
WARNING_HEADER = "x-sluicegate-warning"


class Resolve:
    """Finds the gateway and reads the gateway's own request headers (metadata, custom cost).

    A host-in-path request names no gateway: its token's does (a token limited to one gateway),
    or, without a token, the configured `host_gateway`.
    """

    def __init__(self, directory: GatewayDirectory, tokens: TokenDirectory, host_gateway: str) -> None:
        self._directory = directory
        self._tokens = tokens
        self._host_account, _, self._host_slug = host_gateway.partition("/")

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        if not exchange.request.gateway_slug:
            exchange.request = await self._host_request(exchange.request)
        request = exchange.request
        gateway = await self._directory.get(request.account, request.gateway_slug)
        if gateway is None:
            known = [g.slug for g in await self._directory.list(request.account)]
            # No such account (most often a Cloudflare account id kept in the URL); the default
            # account without gateways is no misspelling of itself: its gateway is what is missing.
            if not known and request.account != DEFAULT_ACCOUNT:
                default = await self._directory.get(DEFAULT_ACCOUNT, request.gateway_slug)
                raise unknown_account(request.account, request.gateway_slug, default is not None)
            raise unknown_gateway(request.account, request.gateway_slug, known)
        exchange.gateway = gateway
        read_options(request.headers, exchange.options)
        return await call_next(exchange)

    async def _host_request(self, request: IncomingRequest) -> IncomingRequest:
        """A host-in-path request as it would have come had it named its gateway."""
        account, slug = self._host_account, self._host_slug
        # Which gateway the token names, if any: a value that cannot be a token leaves the choice to
        # `host_gateway`, whose `authentication` setting then decides on it (pipeline/auth.py).
        secret, token = await find_token(self._tokens, request.headers, request.route.query, True)
        if secret is not None:
            if token is None:
                raise Unauthorized("the gateway token is invalid, expired or revoked")
            account = token.account
            if token.gateways is not None and len(token.gateways) == 1:
                slug = token.gateways[0]
        return replace(request, gateway_slug=slug, route=replace(request.route, account=account))


class Plan:
    """Reads the body (only once the caller is authenticated) and turns the request into steps.

    Every path that will be joined to a provider's base URL is checked here, before a stored key
    is attached to any step: the client's own and each step's (universal endpoints, compat models).
    Each step's base URL is decided here too, once (`upstreams`: the configured ones by provider,
    else the provider's own): the forward stage sends it there, and the caches keep its answers
    apart from another server's under the same provider name (cache_keys.py).
    """

    def __init__(
        self,
        planners: Mapping[str, Planner],
        workers_ai: WorkersAIAccount | None = None,
        upstreams: Mapping[str, str] | None = None,
    ) -> None:
        self._planners = planners
        self._workers_ai = workers_ai or WorkersAIAccount()
        self._upstreams = upstreams or {}

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        gateway = exchange.gateway
        assert gateway is not None, "Resolve runs before Plan"
        request = exchange.request
        warnings: list[str] = []  # a retry header's number taken into its range (retry_headers.py)
        policy = policy_from_headers(request.headers, gateway.settings, warnings)
        exchange.options.warnings += tuple(warnings)  # said on every answer, refusals too
        check_path(request.route.path)
        body = await request.read_body()
        exchange.plan.body = body  # logged as it came should planning refuse the request
        planner = self._planners[request.kind]
        try:
            plan = await planner(
                PlanInput(
                    request,
                    gateway,
                    exchange.token,
                    exchange.options.metadata,
                    body,
                    policy,
                    exchange.options.custom_cost,
                )
            )
        except RouteRefused as refused:  # logged as a rate-limit refusal that names its route
            exchange.limits.rate_limited = True
            exchange.plan.route_plan = refused.plan
            raise
        if plan.request is not None:  # a universal request whose one step is compat (compat_step.py)
            exchange.request = request = plan.request
        exchange.options.warnings += plan.warnings
        for index, step in enumerate(plan.steps):
            if request.kind == "universal":
                check_path(step.route.path, f"step {index}: endpoint", step=index, field="endpoint")
            else:
                check_path(step.route.path)
        exchange.plan = plan
        several = request.kind == "universal" or len(plan.steps) > 1
        for index, step in enumerate(plan.steps):  # once kept: a refusal is logged as a Workers AI one
            if step.base_url is None:  # (a host-in-path step has its host's)
                step.base_url = self._upstreams.get(step.provider.name, step.provider.default_base_url)
            if step.facts.links is not None:  # (an Anthropic batch's results_url)
                link_answers(step, request)
            self._workers_ai.place(step, index if several else None)
        _refuse_unreadable(plan)
        return await call_next(exchange)


def _refuse_unreadable(plan: RequestPlan) -> None:
    """A body meant as JSON that the gateway cannot read (NaN, a lone surrogate escape, UTF-16) has
    no model, tokens or price, so forwarded it would pass every token and cost limit uncounted: it
    is the client's 400, saying what is wrong and at which byte. Raised once the plan is kept, so
    the log stage records it, body included, like any other 400; nothing is cached, guarded or sent.
    """
    for step in plan.steps:
        problem = unreadable(step.facts, step.body, step.headers.get("Content-Type"))
        if problem is not None:
            raise BadRequest(problem.message, byte=problem.byte)


def read_options(headers: CIMultiDictProxy[str], options: ClientOptions) -> None:
    """Fill `options` with what the client asks in its `cf-aig-*` headers, raising `BadRequest` for
    one it cannot read. Filled in place, header by header: a request refused for a later header is
    still logged with what the earlier ones asked (its metadata, say)."""
    # First: a request that asked not to be logged (or not its bodies) is not, even when a later
    # header refuses it.
    if COLLECT_LOG_HEADER in headers:
        options.collect_log = flag(COLLECT_LOG_HEADER, headers[COLLECT_LOG_HEADER])
    payload = flag(COLLECT_PAYLOAD_HEADER, headers.get(COLLECT_PAYLOAD_HEADER, ""))
    if payload is not None:  # absent or blank: the default stands
        options.collect_payload = payload
    if METADATA_HEADER in headers:
        metadata, options.metadata_dropped = parse_metadata(headers[METADATA_HEADER])
        # With the entries an endpoint wrote before (a WebSocket message's event id): reserved keys.
        options.metadata = {**metadata, **options.metadata}
    if OVERRIDES_HEADER in headers:
        parse_overrides(headers[OVERRIDES_HEADER])
    # Checked here, the semantic cache on or off, so a bad value is the same 400 whatever would
    # answer the request (the exact cache, a guardrail, token counting) and before an operator
    # turns the semantic cache on (read again by the semantic stage, semantic_lookup.py).
    if SEMANTIC_THRESHOLD_HEADER in headers:
        semantic_threshold(headers[SEMANTIC_THRESHOLD_HEADER])
    if CUSTOM_COST_HEADER in headers:
        try:
            options.custom_cost = parse_custom_cost(headers[CUSTOM_COST_HEADER])
        except ValueError as exc:
            raise BadRequest(str(exc), header=CUSTOM_COST_HEADER) from exc  # the message names the header


def parse_metadata(value: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """`cf-aig-metadata`: a JSON object whose values are strings, numbers or bools. As on Cloudflare
    ("only the first five will be saved"), its first `MAX_METADATA_ENTRIES` entries in the order
    sent are kept; returned with the keys of those dropped. Every entry is checked: a header with
    a nested value is malformed wherever the value is."""
    try:
        metadata = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        problem = json_header_problem(METADATA_HEADER, value) or f"{METADATA_HEADER} is not valid JSON: {exc}"
        raise BadRequest(problem, header=METADATA_HEADER) from exc
    if not isinstance(metadata, dict):
        raise BadRequest(f"{METADATA_HEADER} must be a JSON object", header=METADATA_HEADER)
    if reserved := reserved_in(metadata):
        raise BadRequest(
            f"{METADATA_HEADER}: {', '.join(map(repr, reserved))} is written by the gateway itself;"
            " use another key",
            header=METADATA_HEADER,
            reserved=reserved,
        )
    for key, item in metadata.items():
        if not isinstance(item, str | int | float | bool):
            raise BadRequest(
                f"{METADATA_HEADER}: entry {key!r} must be a string, number or boolean",
                header=METADATA_HEADER,
            )
    if len(metadata) <= MAX_METADATA_ENTRIES:
        return metadata, ()
    entries = list(metadata.items())  # orjson keeps the order sent
    kept, dropped = entries[:MAX_METADATA_ENTRIES], entries[MAX_METADATA_ENTRIES:]
    return dict(kept), tuple(key for key, _ in dropped)


def dropped_metadata_header(dropped: tuple[str, ...]) -> str:
    """`METADATA_DROPPED_HEADER`'s value: the keys as a JSON array, escaped to ASCII (a key may hold
    any character, a comma or one a header cannot carry)."""
    return json.dumps(list(dropped))
