"""Provider adapters and the registry that maps URL slugs to them.

Adding a provider: one module, one line here.
"""

from __future__ import annotations

from collections.abc import Mapping

from sluicegate.providers.anthropic import ANTHROPIC
from sluicegate.providers.azure_openai import AZURE_OPENAI
from sluicegate.providers.base import Provider, RequestFacts
from sluicegate.providers.cohere import COHERE
from sluicegate.providers.google_ai_studio import GOOGLE_AI_STUDIO
from sluicegate.providers.google_vertex_ai import GOOGLE_VERTEX_AI
from sluicegate.providers.huggingface import HUGGINGFACE
from sluicegate.providers.openai import OPENAI, OpenAICompatible
from sluicegate.providers.openai_compatible import COMPATIBLE_PROVIDERS
from sluicegate.providers.replicate import REPLICATE
from sluicegate.providers.workers_ai import WORKERS_AI

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


def registry(custom: Mapping[str, str]) -> Mapping[str, Provider]:
    """REGISTRY plus a custom provider for each name -> base URL: an OpenAI-compatible server
    (vLLM, llama.cpp, Ollama, ...). Config has checked the names; a built-in name is refused."""
    if shadowed := sorted(set(custom) & set(REGISTRY)):
        raise ValueError(f"custom providers shadow built-in ones: {', '.join(shadowed)}")
    customs = {name: OpenAICompatible(name=name, default_base_url=url) for name, url in custom.items()}
    return {**REGISTRY, **customs}


__all__ = ["REGISTRY", "Provider", "RequestFacts", "registry"]
