"""Planners: how a request becomes the ordered steps that `retry.py` tries.

A provider endpoint's request is one step. The universal endpoint's body is a JSON array of steps
(or one step object), each `{"provider", "endpoint", "headers", "query", "config", "authorization"}`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

import orjson
from multidict import CIMultiDict, MultiMapping
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sluicegate.custom_providers import ProviderBook
from sluicegate.errors import BadRequest, NotFound, UnknownProvider
from sluicegate.exchange import IncomingRequest, RequestPlan, RetryPolicy, Step, StepOptions
from sluicegate.gateway import Gateway
from sluicegate.hints import did_you_mean, unknown_provider
from sluicegate.hosts import HostMap
from sluicegate.jsondepth import encode
from sluicegate.pipeline.cache_asks import ASK_HEADERS, read_cache_ask
from sluicegate.pipeline.compat_step import compat_request, is_compat, only_step
from sluicegate.pipeline.retry_headers import MAX_ATTEMPTS, MAX_RETRY_DELAY_MS, RETRY_HEADERS, policy_over
from sluicegate.pipeline.step_headers import (
    STEP_REQUEST_HEADERS,
    header_texts,
    is_log_header,
    one_cache_key,
    step_options,
)
from sluicegate.providers import REALTIME_PROVIDERS
from sluicegate.providers.authorization_field import authorization_header
from sluicegate.providers.base import Provider, Route, repeated_base_path
from sluicegate.providers.openai_realtime import ROOT_SESSIONS, realtime_facts, realtime_route
from sluicegate.tokens import Token
from sluicegate.types import Backoff
from sluicegate.upstream_headers import forwardable_request_headers, header_problem, is_gateway_header
from sluicegate.usage.custom_cost import CustomCost


class PlanInput(NamedTuple):
    """What a planner plans from: the request to `gateway`, its token and the client's metadata (a
    dynamic route may read them), its body, the retry policy of each step that says none, and the
    client's `cf-aig-custom-cost` (what a route's cost limit prices an unpriced model at)."""

    request: IncomingRequest
    gateway: Gateway
    token: Token | None
    metadata: Mapping[str, Any]
    body: bytes
    policy: RetryPolicy
    custom_cost: CustomCost | None = None


# Turns a request into its plan: the ordered steps to try.
Planner = Callable[[PlanInput], Awaitable[RequestPlan]]


def provider_planner(providers: ProviderBook) -> Planner:
    async def plan(asked: PlanInput) -> RequestPlan:
        request, body, policy = asked.request, asked.body, asked.policy
        provider = await providers.find(request.account, request.provider_name)
        if provider is None:
            known = await providers.names(request.account)
            hint, details = unknown_provider(request.provider_name, known)
            raise UnknownProvider(
                f"unknown provider {request.provider_name!r}{hint}", providers=known, **details
            )
        prefix = f"/v1/{request.account}/{request.gateway_slug}/{provider.name}/"
        _refuse_repeated_path(provider, request.route, prefix)
        headers = forwardable_request_headers(request.headers)
        facts = provider.read_request(request.route, body)
        return RequestPlan(body, [Step(provider, request.route, headers, body, facts, policy)])

    return plan


# Where realtime sessions are relayed, read off the registry: the 404 of any other upgrade says it.
_REALTIME_ONLY = (
    "realtime WebSocket sessions are relayed at a path ending in /realtime under a provider that"
    " serves them: "
    + ", ".join(f"…/{name}/" for name in sorted(REALTIME_PROVIDERS))
    + "; also at "
    + ", ".join(f"…/{name}?model=…" for name in sorted(ROOT_SESSIONS))
)


def realtime_planner(providers: ProviderBook) -> Planner:
    """A realtime session (a WebSocket upgrade): the provider endpoint's one step, its model read
    from the query (the upgrade has no body)."""
    plan_provider = provider_planner(providers)

    async def plan(asked: PlanInput) -> RequestPlan:
        request = asked.request
        relayed = realtime_route(request.provider_name, request.route)
        if request.provider_name not in REALTIME_PROVIDERS or relayed is None:
            raise NotFound(_REALTIME_ONLY, providers=sorted(REALTIME_PROVIDERS))
        planned = await plan_provider(asked)
        for step in planned.steps:
            step.route = relayed
            step.facts = realtime_facts(step.provider.name, step.route)
        return planned

    return plan


def host_planner(hosts: HostMap, compat: bool) -> Planner:
    """`/{host}/{path}` (or `/compat/openai/{host}/{path}`): the provider the host belongs to."""

    async def plan(asked: PlanInput) -> RequestPlan:
        request, body, policy = asked.request, asked.body, asked.policy
        target = hosts.target(request.upstream_host, request.route.path, compat)
        route = Route(request.account, target.path, request.route.query)
        headers = forwardable_request_headers(request.headers)
        facts = target.provider.read_request(route, body)
        return RequestPlan(
            body, [Step(target.provider, route, headers, body, facts, policy, base_url=target.base_url)]
        )

    return plan


def _refuse_repeated_path(provider: Provider, route: Route, prefix: str, **details: Any) -> None:
    """A 404 that says what was meant, before going upstream, for a path that repeats the end of
    the provider's base URL (`…/openai/v1/chat/completions`): no provider serves `/v1/v1/…`."""
    found = repeated_base_path(provider, route)
    if found is None:
        return
    repeated, meant = found
    where = f"step {details['step']}: " if "step" in details else ""
    raise NotFound(
        f"{where}{prefix}{route.path} would reach {provider.upstream_url(provider.default_base_url, route)}"
        f" upstream: the path repeats {repeated!r}, which the {provider.name} endpoint already ends with."
        f" Did you mean {prefix}{meant}? (An SDK's base_url ends in /{provider.name},"
        f" without /{repeated.rstrip('/')}.)",
        did_you_mean=prefix + meant,
        **details,
    )


# The gateway's own headers a universal step's tries and cache entry read over the request's
# (Cloudflare's "provider-level headers"). A step may also carry some of the request's own
# (`cf-aig-metadata`, `cf-aig-cache-key`, ...: `STEP_REQUEST_HEADERS`, what each does in
# step_headers.py); the others (`cf-aig-authorization`, `cf-aig-byok-alias`, ...) ask of the whole
# request only.
STEP_HEADERS = frozenset((*RETRY_HEADERS, *ASK_HEADERS))
_CARRIED = STEP_HEADERS | frozenset(STEP_REQUEST_HEADERS)


class StepConfig(BaseModel):
    """A universal step's retry settings, named as Cloudflare AI Gateway names them."""

    model_config = ConfigDict(extra="forbid")

    requestTimeout: int | None = Field(None, gt=0, description="ms until the answer starts")
    maxAttempts: int | None = Field(None, ge=1, le=MAX_ATTEMPTS)
    retryDelay: int | None = Field(None, ge=0, le=MAX_RETRY_DELAY_MS)
    backoff: Backoff | None = None


class UniversalStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(min_length=1)
    endpoint: str = Field(min_length=1, description="the path after the provider segment")
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Any] = Field(description="the provider's request body")
    config: StepConfig | None = None
    authorization: str | None = Field(
        None, description="the value of the provider's authentication header, e.g. 'Bearer …'"
    )

    @field_validator("headers")
    @classmethod
    def _sendable(cls, headers: dict[str, str]) -> dict[str, str]:
        """Headers HTTP can carry (the message names the header, never its value: it may be a key)."""
        for name, value in headers.items():
            if (problem := header_problem(name, value)) is not None:
                raise ValueError(problem)
        return headers

    @field_validator("authorization")
    @classmethod
    def _sendable_value(cls, value: str | None) -> str | None:
        if value is not None and (problem := header_problem("authorization", value)) is not None:
            raise ValueError(problem)
        return value


def universal_planner(providers: ProviderBook, compat: Planner | None = None) -> Planner:
    """`compat`: the compat endpoint's planner, for a request whose one step is `compat`."""

    async def plan(asked: PlanInput) -> RequestPlan:
        request, body, policy = asked.request, asked.body, asked.policy
        account = request.account
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"the universal endpoint takes a JSON array of steps: {exc}") from exc
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise BadRequest("the array of steps is empty", field="steps")
        steps: list[Step] = []
        warnings: list[str] = []
        for index, item in enumerate(items):
            spec = _spec(index, item)
            if is_compat(spec.provider):
                if len(items) > 1 or compat is None:
                    raise only_step(index)
                return await _compat_plan(asked, spec, compat)
            # Cloudflare's documents write `"provider": "OpenAI"`: a registry name in any case.
            provider = await providers.find(account, spec.provider) or await providers.find(
                account, spec.provider.lower()
            )
            if provider is None:
                known = await providers.names(account)
                hint, details = unknown_provider(spec.provider, known)
                raise BadRequest(
                    f"step {index}: unknown provider {spec.provider!r}{hint}",
                    step=index,
                    field="provider",
                    providers=known,
                    **details,
                )
            steps.append(_step(account, index, spec, provider, policy, warnings))
        one_cache_key(request.headers, [step.own_headers for step in steps])
        return RequestPlan(body, steps, warnings=tuple(warnings))

    return plan


async def _compat_plan(asked: PlanInput, spec: UniversalStep, compat: Planner) -> RequestPlan:
    """The plan of the compat request a universal request's one `compat` step stands for
    (compat_step.py), its own log headers on each step the compat planner plans."""
    own, options, warnings = _own_headers(0, spec)
    policy = _policy(0, spec, own, asked.policy)
    one_cache_key(asked.request.headers, [own])
    body = encode(spec.query, where="step 0: query", step=0, field="query")
    request = compat_request(asked.request, spec.endpoint, spec.headers, spec.authorization, body)
    try:
        planned = await compat(asked._replace(request=request, body=body, policy=policy))
    except BadRequest as exc:  # said of the compat request: where it is in this one
        raise BadRequest(f"step 0: query: {exc.message}", step=0, **exc.details) from exc
    for step in planned.steps:
        step.options = options
    planned.request, planned.warnings = request, tuple(warnings)
    return planned


def _spec(index: int, item: Any) -> UniversalStep:
    if isinstance(item, dict) and "headers" in item:  # numbers, booleans, objects: as header text
        item = {**item, "headers": header_texts(index, item["headers"])}
    try:
        return UniversalStep.model_validate(item)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "step"
        message = first["msg"]
        if first["type"] == "extra_forbidden":  # a misspelt field: say which one was meant
            known = StepConfig.model_fields if first["loc"][0] == "config" else UniversalStep.model_fields
            message += did_you_mean(str(first["loc"][-1]), known)
        raise BadRequest(f"step {index}: {field}: {message}", step=index, field=field) from exc


def _refuse_request_headers(index: int, own: MultiMapping[str]) -> None:
    """A 400 for a gateway header in step `index`'s `headers` that only the request's can carry:
    ignored, it would leave its sender believing it took effect."""
    for name in own:
        if name.lower() not in _CARRIED:
            raise BadRequest(
                f"step {index}: headers: {name} applies to the whole request, not to one step: send it"
                " as a header of the request to the universal endpoint. A step's own headers may carry"
                f" only {', '.join(sorted(_CARRIED))}",
                step=index,
                field=f"headers.{name}",
                header=name,
            )


def _step(
    account: str,
    index: int,
    spec: UniversalStep,
    provider: Provider,
    policy: RetryPolicy,
    warnings: list[str],
) -> Step:
    path, _, query = spec.endpoint.lstrip("/").partition("?")
    route = Route(account, path, query)
    _refuse_repeated_path(provider, route, "", step=index)
    body = encode(spec.query, where=f"step {index}: query", step=index, field="query")
    headers = forwardable_request_headers(CIMultiDict(spec.headers))
    headers.setdefault("Content-Type", "application/json")
    if spec.authorization is not None:
        header, credential = authorization_header(provider.key_header, spec.authorization)
        headers[header] = credential
    own, options, said = _own_headers(index, spec)
    warnings += said
    policy = _policy(index, spec, own, policy, warnings)
    facts = provider.read_request(route, body)
    return Step(provider, route, headers, body, facts, policy, own_headers=own, options=options)


def _own_headers(index: int, spec: UniversalStep) -> tuple[CIMultiDict[str], StepOptions | None, list[str]]:
    """Step `index`'s own gateway headers: those its cache and retries read, what its log headers
    ask (step_headers.py) and the warnings for what they took otherwise than asked."""
    own = CIMultiDict((name, value) for name, value in spec.headers.items() if is_gateway_header(name))
    _refuse_request_headers(index, own)
    options, warnings = step_options(index, own)
    kept = CIMultiDict((name, value) for name, value in own.items() if not is_log_header(name))
    return kept, options, warnings


def _policy(
    index: int,
    spec: UniversalStep,
    own: CIMultiDict[str],
    policy: RetryPolicy,
    warnings: list[str] | None = None,
) -> RetryPolicy:
    """Step `index`'s retry policy: its own headers over its `config` over the request's `policy`;
    what its headers asked out of range and took clamped is added to `warnings`."""
    config = spec.config
    if config is not None:
        policy = RetryPolicy(
            max_attempts=config.maxAttempts or policy.max_attempts,
            delay_ms=config.retryDelay if config.retryDelay is not None else policy.delay_ms,
            backoff=config.backoff or policy.backoff,
            timeout_ms=config.requestTimeout or policy.timeout_ms,
        )
    # Cloudflare: "provider-level headers ... take precedence over all other configurations".
    try:
        clamped: list[str] = []
        policy = policy_over(own, policy, clamped)
        if warnings is not None:
            warnings += (f"step {index}: {warning}" for warning in clamped)
        read_cache_ask(own)  # read again by the cache stage; refused here, with the step's index
    except BadRequest as exc:
        raise BadRequest(f"step {index}: headers: {exc.message}", step=index, **exc.details) from exc
    return policy
