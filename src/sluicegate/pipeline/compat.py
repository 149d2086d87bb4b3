"""The unified OpenAI-compatible endpoint's planner and answer translation.

`POST /v1/{account}/{gateway}/compat/chat/completions` with `"model": "{provider}/{model}"` (or
`"dynamic/<route>"`: the route's targets, in the order to try them, see pipeline/dynamic.py): an
OpenAI-compatible provider gets the request as it is (model prefix removed); Anthropic, Google AI
Studio and Workers AI get it translated to their native API, and their answers, errors and
streams are translated back to OpenAI's shapes as they arrive (pipeline/compat_answers.py).

A request in another client API (`IncomingRequest.ingress`, see ingress/) is first translated to the
chat request it means and planned as that one; its answer is rendered back by pipeline/ingress.py.
A model of the provider whose API the client speaks gets the request as it came, untranslated; so
does a route's target of that provider, beside its others translated (pipeline/compat_route.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any
from urllib.parse import unquote_plus

import orjson
from multidict import CIMultiDict

from sluicegate.compat import CompatTarget
from sluicegate.compat.base import TranslationError
from sluicegate.credentials import SECRET_HEADERS, SECRET_PARAMS
from sluicegate.custom_providers import ProviderBook
from sluicegate.errors import BadRequest, GatewayError, NotFound, RouteMisconfigured
from sluicegate.exchange import HubRequest, IncomingRequest, RequestPlan, RetryPolicy, Step
from sluicegate.hints import unknown_provider
from sluicegate.ingress.base import IngressFormat
from sluicegate.ingress.client_fields import in_client_terms
from sluicegate.ingress.gemini_generate import GEMINI_PATHS
from sluicegate.jsondepth import encode, refuse_if_too_deep
from sluicegate.paths import check_path
from sluicegate.pipeline.compat_answers import chat_with_usage, estimate, translate_reply
from sluicegate.pipeline.compat_route import ClientAPI, RouteSteps
from sluicegate.pipeline.dynamic import DYNAMIC, DynamicRoutes, is_dynamic
from sluicegate.pipeline.response_items import ResponseItems
from sluicegate.pipeline.steps import PlanInput, Planner
from sluicegate.providers.base import Provider, Route
from sluicegate.providers.openai import OPENAI, OpenAICompatible
from sluicegate.routing.nodes import join
from sluicegate.routing.plan import Target
from sluicegate.upstream_headers import forwardable_request_headers
from sluicegate.usage.tokens import TokenCounter

_log = logging.getLogger(__name__)
COMPAT = "compat"
CHAT = "chat/completions"
PATHS = (CHAT, "embeddings")
# With ingress/, as a 404 lists them.
SERVED = (*PATHS, "responses", "v1/messages", "v1/messages/count_tokens", *GEMINI_PATHS)
# Responses' reasoning.effort and .summary, Messages' thinking: for the translators only.
_INGRESS_REASONING = ("reasoning_effort", "thinking", "include_reasoning")
_TRANSLATION_DEPTH = 8  # at most this many levels a translator adds around client JSON


def compat_planner(
    providers: ProviderBook,
    targets: Mapping[str, CompatTarget],
    dynamic: DynamicRoutes,
    items: ResponseItems,
    counter: TokenCounter | None = None,
) -> Planner:
    """`items`: the output items the gateway kept, which a Responses request may name by id (the
    Ingress stage's store, which keeps them); `counter`: what counts the usage of a translated
    stream whose client asked for usage its provider did not report (pipeline/compat_answers.py)."""
    counter = counter or TokenCounter()

    async def plan(asked: PlanInput) -> RequestPlan:
        request, body, policy = asked.request, asked.body, asked.policy
        account, path, ingress = request.account, request.route.path, request.ingress
        if path not in PATHS and ingress is None:
            raise NotFound(
                f"the compat endpoint serves {' and '.join(SERVED)}, not {path!r}", paths=list(SERVED)
            )
        payload = _payload(body)
        if ingress is not None and ingress.path_model is not None:
            if _splits_in_its_path(ingress, ingress.path_model):
                raise BadRequest(f"the model {ingress.path_model!r} named in the path cannot hold ':'")
            payload = {**payload, "model": ingress.path_model}  # named in the URL (Gemini's API)
        headers = forwardable_request_headers(request.headers)
        hub, client, unsaid = None, None, None
        if ingress is not None:
            # The items the gateway kept that the request names: in their place for every target,
            # for one of the client's API's provider too, which cannot read them (not its own).
            resolved = await items.resolve(request, ingress, payload)
            if not is_dynamic(payload.get("model")):
                native = _native_step(providers.registry, request, ingress, resolved.native, headers, policy)
                if native is not None:
                    return RequestPlan(body, [native])
            as_came, headers_as_came = resolved.native, headers
            try:
                payload = resolved.for_chat()
                hub, payload, headers = _through_chat(request, ingress, payload, headers)
            except GatewayError as exc:
                if not is_dynamic(payload.get("model")):
                    raise
                unsaid = exc  # not in chat: only a route's targets of the client's API take it
            path = CHAT
            sends = partial(_native, request, ingress, as_came, headers_as_came)
            keeper = items.keeper(request, ingress, hub.asked) if hub is not None else None
            client = ClientAPI(ingress, sends, hub, keeper)
        asked_as = hub.asked if hub is not None else None
        build = _StepBuilder(providers.registry, targets, request, payload, headers, path, asked_as, counter)
        if not is_dynamic(payload.get("model")):
            slug, model = _split_model(payload.get("model"))
            provider = await providers.find(account, slug)
            if provider is None:
                known = await providers.names(account)
                hint, details = unknown_provider(slug, known)
                raise BadRequest(
                    f"unknown provider {slug!r} in model{hint}",
                    field="model",
                    param="model",
                    providers=known,
                    **details,
                )
            return RequestPlan(body, [build(provider, model, policy)], hub=hub)
        token = asked.token

        async def find(target: Target) -> Provider:
            provider = await providers.find(account, target.provider)
            if provider is None:  # saved before providers were checked, or a custom one deleted since
                route, where = str(payload["model"]).removeprefix(DYNAMIC), join(target.where, "model")
                raise _misconfigured(request, route, where, target.provider)
            return provider

        # Each target as it can take the request: built once, a limit node estimates its branch's.
        steps = RouteSteps(find, build if unsaid is None else unsaid, policy, client)
        token_id = token.id if token is not None else None
        route_plan, held = await dynamic.plan(
            request, asked.gateway, token_id, asked.metadata, payload, steps.steps_of, asked.custom_cost
        )
        try:
            planned = await steps.plan(body, route_plan, held)
            for step in planned.steps:  # as the Plan stage checks them, but while the holds can be given back
                check_path(step.route.path)
        except BaseException:
            await dynamic.release(held, request.id)
            raise
        return planned

    return plan


def _misconfigured(request: IncomingRequest, route: str, where: str, provider: str) -> RouteMisconfigured:
    """The 500 for a stored route whose target names a provider the account does not have: the
    operator's to fix (the gateway's `route_errors` say why), not the client's."""
    _log.warning(
        "gateway %s/%s: dynamic route %r cannot be used: routes.%s.%s: unknown provider %r",
        request.account, request.gateway_slug, route, route, where, provider,
    )  # fmt: skip
    return RouteMisconfigured(
        f"dynamic route {route!r} of this gateway is misconfigured, so it cannot be used; "
        "the gateway's administrator can see why in the gateway's route_errors",
        route=route,
    )


def _native_step(
    providers: Mapping[str, Provider],
    request: IncomingRequest,
    ingress: IngressFormat,
    payload: dict[str, Any],
    headers: CIMultiDict[str],
    policy: RetryPolicy,
) -> Step | None:
    """The request as it came, for a model of the provider whose own API the client speaks
    (`anthropic/…` in Anthropic's Messages): nothing to translate either way."""
    slug, model = _split_model(payload.get("model"))
    if slug != ingress.native.provider.name or slug not in providers:
        return None
    return _native(request, ingress, payload, headers, providers[slug], model, policy)


def _native(
    request: IncomingRequest,
    ingress: IngressFormat,
    payload: dict[str, Any],
    headers: CIMultiDict[str],
    provider: Provider,
    model: str,
    policy: RetryPolicy,
    own_key: bool = True,
) -> Step:
    """The request as it came to `model` of the provider whose API the client speaks (a route's
    target too: `own_key` as `_StepBuilder` takes it)."""
    headers, query = CIMultiDict(headers), request.route.query
    if not own_key:
        query = _without_client_key(headers, query)
    path, native = ingress.native.request(payload, model)
    route = Route(request.account, path, query)
    body = encode(native)
    return Step(provider, route, headers, body, provider.read_request(route, body), policy)


def _splits_in_its_path(ingress: IngressFormat, model: str) -> bool:
    """Whether `model` holds a colon and goes upstream in a path `{model}:{method}` (a model of the
    provider whose API the client speaks, where that API names it in the path: Gemini's), which
    that provider, and the gateway reading the path it sent, split at the first colon. Another
    provider's model goes in a body, where a colon is its own (OpenAI's `ft:gpt-4o-mini:org::id`)."""
    native = ingress.native
    provider, _, name = model.partition("/")
    in_path = native is not None and native.model_path is not None
    return in_path and provider.lower() == native.provider.name and ":" in name


def _through_chat(
    request: IncomingRequest, ingress: IngressFormat, payload: dict[str, Any], headers: CIMultiDict[str]
) -> tuple[HubRequest, dict[str, Any], CIMultiDict[str]]:
    """The chat request and headers that a request in another client API means, and the `hub`
    the plan keeps so the caches serve it as they would that chat request."""
    try:
        chat = ingress.to_chat(payload)
    except TranslationError as exc:
        raise BadRequest(
            f"cannot translate the request for the providers: {exc}", format=ingress.name, param=exc.field
        ) from exc
    # The client API's query (Gemini's `alt=sse`, its `key`; a Messages client's `beta=true`) means
    # nothing to chat: none of it goes on, a key in it goes as the client's key (`hub_headers`).
    route = Route(request.account, CHAT)
    hub_headers = ingress.hub_headers(headers, request.route.query)
    return HubRequest(payload, route, encode(chat, source=payload)), chat, hub_headers


class _StepBuilder:
    """The step that sends this request to `slug`'s `model`: as it is to an OpenAI-compatible
    provider (a request an ingress format wrote, `hub`, in the fields that provider takes:
    `OpenAICompatible.chat_request`), translated to the native API of the others."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        targets: Mapping[str, CompatTarget],
        request: IncomingRequest,
        payload: dict[str, Any],
        headers: CIMultiDict[str],
        path: str,
        asked: Mapping[str, Any] | None,
        counter: TokenCounter,
    ) -> None:
        """`asked`: the request in the client's API that `payload` was written from (ingress/)."""
        self._providers, self._targets = providers, targets
        self._request, self._payload, self._headers, self._path = request, payload, headers, path
        self._asked, self._hub, self._counter = asked, asked is not None, counter

    def __call__(self, provider: Provider, model: str, policy: RetryPolicy, own_key: bool = True) -> Step:
        """Every step gets headers of its own: later stages write into them what is for its
        provider only (a stored key, per try; an account custom provider's stored headers).
        `own_key`: whether the client's credentials (its key headers, a key query parameter) are
        this provider's; when not, the step carries none of them. A request another API's client
        sent carries none of its query (`_through_chat`)."""
        request, payload, path = self._request, self._payload, self._path
        headers, query = CIMultiDict(self._headers), "" if self._hub else request.route.query
        if not own_key:
            query = _without_client_key(headers, query)
        slug = provider.name
        native_payload = {**payload, "model": model}
        if isinstance(provider, OpenAICompatible):
            # Azure's `{resource}/{deployment}` names a host and a body model: its v1 API's path.
            route_path, native_payload["model"] = provider.compat_route(path, model)
            if self._hub:
                # The reasoning an ingress format wrote is for the translators (Anthropic's
                # thinking, Gemini's thinkingConfig): left out here, as before they took it (a
                # model that does not reason refuses `reasoning_effort`; `thinking` is no OpenAI field).
                kept = {k: v for k, v in native_payload.items() if k not in _INGRESS_REASONING}
                native_payload = provider.chat_request(kept)
            route = Route(request.account, route_path, query)
            body = encode(native_payload)
            facts = provider.read_request(route, body)
            answer = None
            if self._hub and facts.stream:  # Messages and Responses always report usage: the
                # gateway's count where the server sends none (compat_answers.py)
                answer = partial(chat_with_usage, slug, estimate(self._counter, facts.payload, facts.model))
            # A chat client's fields the server refuses and that change no answer go nowhere (its
            # own endpoint sends them as they came); a request the gateway wrote has none.
            unsent = provider.chat_refuses if path == CHAT else frozenset()
            return Step(provider, route, headers, body, facts, policy, answer=answer, unsent=unsent)
        target = self._targets.get(slug)
        if target is None or path != CHAT:
            # Translations speak chat only: another path is served by the providers it passes to as it is.
            translated = self._targets if path == CHAT else ()
            passed = (n for n, p in self._providers.items() if isinstance(p, OpenAICompatible))
            usable = sorted({*translated, *passed})
            raise BadRequest(
                f"provider {slug!r} is not available for compat/{path}",
                field="model",
                param="model",
                providers=usable,
            )
        try:
            native = target.translator.request(native_payload, model)
        except TranslationError as exc:
            # A request another API's client sent was translated to chat, whose paths name no field
            # that client sent: said in the client's terms (ingress/client_fields.py).
            if self._asked is not None and request.ingress is not None:
                exc = in_client_terms(request.ingress.name, self._asked, exc)
            raise BadRequest(f"cannot translate the request for {slug}: {exc}", param=exc.field) from exc
        except orjson.JSONEncodeError:
            # The translation nests the client's JSON a few levels deeper than it came.
            refuse_if_too_deep(native_payload, margin=_TRANSLATION_DEPTH)
            raise
        route = Route(request.account, native.path, native.query)
        options = payload.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        facts = provider.read_request(route, native.body)
        counted = estimate(self._counter, facts.payload, facts.model)  # as the meter counts it
        return Step(
            provider,
            route,
            target.headers(headers),
            native.body,
            facts,
            policy,
            answer=partial(translate_reply, target.translator, slug, model, include_usage, counted),
            reader=OPENAI,  # the answer the client (and the log) sees is OpenAI-shaped
            one_tool_call=payload.get("parallel_tool_calls") is False,
        )


# Which account of the provider the client's key belongs to: told to another provider, it names
# the client's organisation to a third party; to the provider itself on a stored key, it is another
# account's (OpenAI answers 401 to a key and an organisation that do not match).
_CLIENT_ACCOUNT_HEADERS = ("openai-organization", "openai-project")


def _without_client_key(headers: CIMultiDict[str], query: str) -> str:
    """Takes the client's credentials out of `headers` and returns `query` without them: whatever
    the gateway masks in its logs as one (every provider's key header, an API gateway's
    subscription key, cookies; Google's `key`, a SAS `sig`, `api_key`, ...), not only the keys of
    the providers it knows; and the account its key is of (`_CLIENT_ACCOUNT_HEADERS`)."""
    for name in (*SECRET_HEADERS, *_CLIENT_ACCOUNT_HEADERS):
        headers.popall(name, None)
    if not query:
        return query
    return "&".join(pair for pair in query.split("&") if _param_name(pair) not in SECRET_PARAMS)


def _param_name(pair: str) -> str:
    return unquote_plus(pair.partition("=")[0]).strip().lower()


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise BadRequest("request body must be a JSON object")
    return payload


def _split_model(value: Any) -> tuple[str, str]:
    """The provider's name and the model's. Provider names are lower case, and a client may write
    one in any case (`OpenAI/gpt-4o`, as the universal endpoint takes `"provider": "OpenAI"`)."""
    slug, _, model = value.partition("/") if isinstance(value, str) else ("", "", "")
    if not (slug.strip() and model.strip()):
        example = _example_model(value)
        raise BadRequest(
            f'model must be "{{provider}}/{{model}}", e.g. "{example}"', field="model", param="model"
        )
    return slug.lower(), model


# Model name beginnings that say whose a model is, for the example a 400 gives.
_FAMILIES = (("gpt-", "openai"), ("o1", "openai"), ("o3", "openai"), ("o4", "openai"),
             ("chatgpt", "openai"), ("claude", "anthropic"), ("gemini", "google-ai-studio"),
             ("mistral", "mistral"), ("command", "cohere"))  # fmt: skip


def _example_model(value: Any) -> str:
    """What a model without its provider probably meant ("gpt-4o" → "openai/gpt-4o")."""
    name = value.strip().strip("/") if isinstance(value, str) else ""
    provider = next((p for start, p in _FAMILIES if name.lower().startswith(start)), None)
    return f"{provider}/{name}" if provider and "/" not in name else "anthropic/claude-sonnet-4-5"
