"""Provider adapters and the registry that maps URL slugs to them.

Adding a provider: one module (the adapter, see base.py's `Provider`) or, when it has more to
say (a stream reader, an error shape, a compat translator), one package `providers/<name>/` with
the adapter in `adapter.py` (see anthropic/); then one line here. The tables below are read off
the registry, so no other module names a provider.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping

from sluicegate.providers.anthropic.adapter import ANTHROPIC
from sluicegate.providers.azure_openai import AZURE_OPENAI
from sluicegate.providers.base import BEARER, UNNAMED_OPERATION, Provider, RequestFacts, Route
from sluicegate.providers.cohere import COHERE
from sluicegate.providers.google_ai_studio import GOOGLE_AI_STUDIO
from sluicegate.providers.google_vertex_ai import GOOGLE_VERTEX_AI
from sluicegate.providers.huggingface import HUGGINGFACE
from sluicegate.providers.openai import OPENAI, OpenAICompatible
from sluicegate.providers.openai_compatible import COMPATIBLE_PROVIDERS
from sluicegate.providers.replicate import REPLICATE
from sluicegate.providers.texts import TokenKeys
from sluicegate.providers.workers_ai.adapter import WORKERS_AI

REGISTRY: Mapping[str, Provider] = {
    provider.name: provider
    for provider in (
        OPENAI,
        ANTHROPIC,
        GOOGLE_AI_STUDIO,
        GOOGLE_VERTEX_AI,
        AZURE_OPENAI,
        COHERE,
        *COMPATIBLE_PROVIDERS,
        WORKERS_AI,
        HUGGINGFACE,
        REPLICATE,
    )
}


# Our slugs -> genai-prices provider ids (usage/cost.py); a slug not here is priced by the model name.
PRICE_IDS: Mapping[str, str] = {name: p.price_id for name, p in REGISTRY.items() if p.price_id is not None}
# A request that carries any of these brings its own key, which wins over a stored one.
CREDENTIAL_HEADERS: tuple[str, ...] = tuple(
    dict.fromkeys([BEARER.name.lower(), *(p.key_header.name.lower() for p in REGISTRY.values())])
)
# The query parameters a provider takes its key in (Google's `key`), lower case: the logs mask them.
KEY_PARAMS: tuple[str, ...] = tuple(
    dict.fromkeys(p.key_param.lower() for p in REGISTRY.values() if p.key_param is not None)
)
# The providers that relay realtime WebSocket sessions.
REALTIME_PROVIDERS: frozenset[str] = frozenset(name for name, p in REGISTRY.items() if p.realtime)
# The lines that end a stream, whatever its provider: a stream's bytes may be in another provider's
# format than its target's (the unified endpoint and the ingress formats translate them).
STREAM_ENDS_COMPLETE: tuple[bytes, ...] = tuple(
    dict.fromkeys(line for p in REGISTRY.values() for line in p.stream_ends.complete)
)
STREAM_ENDS_CUT_SHORT: tuple[bytes, ...] = tuple(
    dict.fromkeys(line for p in REGISTRY.values() for line in p.stream_ends.cut_short)
)
# What the token estimator (usage/tokens.py) reads of a request body: every provider's keys, as it is
# given a body, not its provider (custom providers speak OpenAI's API, whose keys are among these).
TOKEN_KEYS: TokenKeys = functools.reduce(operator.or_, (p.token_keys for p in REGISTRY.values()))


def price_model(provider: str, model: str) -> str:
    """`model` (lowercased) as genai-prices names it at the provider called `provider` (see
    `Provider.price_model`); as it is at a provider not registered (a custom one)."""
    adapter = REGISTRY.get(provider)
    return adapter.price_model(model) if adapter is not None else model


def operation(provider: str, route: Route) -> str:
    """The GenAI operation of a request to `route` at the provider called `provider`, for a request
    known by its provider's name only (a log record, a request no step was planned for). A name not
    registered (a custom provider, an unresolved host-in-path host, the universal and compat
    endpoints) is read by the first registered provider whose markers name the path."""
    adapter = REGISTRY.get(provider)
    if adapter is not None:
        return adapter.operation(route)
    named = (found for p in REGISTRY.values() if (found := p.operation(route)) != UNNAMED_OPERATION)
    return next(named, UNNAMED_OPERATION)


def registry(custom: Mapping[str, str]) -> Mapping[str, Provider]:
    """REGISTRY plus a custom provider for each name -> base URL: an OpenAI-compatible server
    (vLLM, llama.cpp, Ollama, ...). Config has checked the names; a built-in name is refused."""
    if shadowed := sorted(set(custom) & set(REGISTRY)):
        raise ValueError(f"custom providers shadow built-in ones: {', '.join(shadowed)}")
    customs = {name: OpenAICompatible(name=name, default_base_url=url) for name, url in custom.items()}
    return {**REGISTRY, **customs}


__all__ = [
    "CREDENTIAL_HEADERS",
    "KEY_PARAMS",
    "PRICE_IDS",
    "REALTIME_PROVIDERS",
    "REGISTRY",
    "STREAM_ENDS_COMPLETE",
    "STREAM_ENDS_CUT_SHORT",
    "TOKEN_KEYS",
    "Provider",
    "RequestFacts",
    "operation",
    "price_model",
    "registry",
]
