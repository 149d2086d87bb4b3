"""Provider adapters and the registry that maps URL slugs to them.

Adding a provider: one module, one line here.
"""

from __future__ import annotations

from collections.abc import Mapping

from sluicegate.providers.base import Provider, RequestFacts
from sluicegate.providers.openai import OPENAI

REGISTRY: Mapping[str, Provider] = {provider.name: provider for provider in (OPENAI,)}

__all__ = ["REGISTRY", "Provider", "RequestFacts"]
