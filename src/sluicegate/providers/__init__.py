"""Provider adapters and the registry that maps URL slugs to them.

Adding a provider: one module, one line here.
"""

from __future__ import annotations

from collections.abc import Mapping

from sluicegate.providers.anthropic import ANTHROPIC
from sluicegate.providers.base import Provider, RequestFacts
from sluicegate.providers.google_ai_studio import GOOGLE_AI_STUDIO
from sluicegate.providers.google_vertex_ai import GOOGLE_VERTEX_AI
from sluicegate.providers.openai import OPENAI

REGISTRY: Mapping[str, Provider] = {
    provider.name: provider for provider in (OPENAI, ANTHROPIC, GOOGLE_AI_STUDIO, GOOGLE_VERTEX_AI)
}

__all__ = ["REGISTRY", "Provider", "RequestFacts"]
