"""Cloudflare routes Sluicegate refuses on purpose, each with the reason and what to do instead.

Anything else that is not served gets the generic "no route" answer of `envelope.py`.
"""

from __future__ import annotations

from aiohttp import web

from sluicegate.cfapi.envelope import NO_ROUTE, failure
from sluicegate.config import CUSTOM_PROVIDERS_ENV

CUSTOM_PROVIDERS = (
    "custom providers cannot be managed through this API: Sluicegate's custom providers are"
    " OpenAI-compatible servers configured for the whole Sluicegate (`custom_providers` in its"
    f' config file, or {CUSTOM_PROVIDERS_ENV}=\'{{"name": "https://host/v1"}}\') and read at start,'
    " not stored per account; each is then reached like a built-in provider at"
    " /v1/{account}/{gateway}/{name}/… (see docs/cloudflare-api.md)"
)


async def custom_providers(request: web.Request) -> web.Response:
    """`accounts/{account}/ai-gateway/custom-providers[/{id}]`, any method."""
    return failure(404, CUSTOM_PROVIDERS, code=NO_ROUTE)
