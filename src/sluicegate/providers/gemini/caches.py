"""Gemini's explicit context caches (`POST …/cachedContents`, both hosts): a create names its model
in the body (`"model": "models/gemini-2.5-flash"`, on Vertex AI its full resource name), not in the
path, so the request is logged under that model.

Its price is not the model's: Google bills a cache's tokens per hour of storage (AI Studio:
gemini-2.5-flash $1.00 per million tokens per hour), beside what creating it reads, and no price
table (genai-prices has none) has a rate per token-hour; so the create is unpriced
(`RequestFacts.unpriced_units`), never priced at the model's input rate.
https://ai.google.dev/api/caching#method:-cachedcontents.create, https://ai.google.dev/gemini-api/docs/pricing
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from sluicegate.providers.base import Route

_CACHES = "cachedContents"


def cache_creation_model(route: Route, payload: Any) -> str | None:
    """The model a cache's create names (`models/x`, `projects/…/models/x` -> `x`); None for any other
    request (a cache's get, update or delete names a cache, not a model)."""
    if unquote(route.path).rstrip("/").rpartition("/")[2] != _CACHES or not isinstance(payload, dict):
        return None
    model = payload.get("model")
    if not isinstance(model, str):
        return None
    return model.rpartition("models/")[2] or None
