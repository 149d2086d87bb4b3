"""`GET /api/v1/accounts/{account}/gateways/{gateway}/urls`: where clients send requests through a
gateway, per provider, and what the `openai` SDK's `base_url` is for each (the dashboard shows
these with a snippet). Paths are relative to the gateway's origin, which only the client knows
(a proxy in front may add a host and a prefix)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Protocol
from urllib.parse import quote, urlsplit

from aiohttp import web

from sluicegate.endpoints.guard import Guard
from sluicegate.endpoints.proxy import COMPAT
from sluicegate.endpoints.schemas import GatewayUrlList, ProviderUrl, json_response
from sluicegate.errors import NotFound
from sluicegate.providers import Provider
from sluicegate.providers.openai import OpenAICompatible
from sluicegate.storage.base import CustomProviderStore, GatewayStore
from sluicegate.tokens import Scope

# The openai SDK appends `chat/completions` to its base_url: a provider speaks to it directly when
# its base URL ends at the API version, as OpenAI's own does (`https://api.openai.com/v1`).
_VERSIONED = re.compile(r"/v\d+[a-z0-9]*$")


class GatewaysAndCustoms(GatewayStore, CustomProviderStore, Protocol):
    """A gateway, and its account's custom providers (they have URLs too)."""


class GatewayUrls:
    def __init__(
        self,
        database: GatewaysAndCustoms,
        providers: Mapping[str, Provider],
        compat: Collection[str],
        guard: Guard,
    ) -> None:
        self._db = database
        self._providers = providers
        self._compat = compat  # providers the compat endpoint translates to (besides OpenAI-compatible ones)
        self._guard = guard

    def add_routes(self, app: web.Application) -> None:
        path = "/accounts/{account}/gateways/{gateway}/urls"
        app.router.add_get(path, self._guard(Scope.READ, self.urls))

    async def urls(self, request: web.Request) -> web.Response:
        account, slug = request.match_info["account"], request.match_info["gateway"]
        if await self._db.get_gateway(account, slug) is None:
            raise NotFound(f"no gateway {slug!r} in account {account!r}")
        root = f"/v1/{quote(account, safe='')}/{quote(slug, safe='')}"
        result = [self._provider_url(root, name, provider) for name, provider in self._providers.items()]
        for custom, _ in await self._db.custom_providers(account):  # the account's own, `custom-{slug}`
            adapter = OpenAICompatible(custom.provider_name, custom.base_url)
            result.append(self._provider_url(root, adapter.name, adapter))
        return json_response(
            GatewayUrlList(universal_path=root, compat_path=f"{root}/{COMPAT}", result=result)
        )

    def _provider_url(self, root: str, name: str, provider: Provider) -> ProviderUrl:
        path = f"{root}/{name}"
        speaks_openai = isinstance(provider, OpenAICompatible) and "{" not in provider.default_base_url
        if speaks_openai and _VERSIONED.search(urlsplit(provider.default_base_url).path.rstrip("/")):
            return ProviderUrl(provider=name, path=path, openai_base_path=path)
        if speaks_openai or name in self._compat:
            return ProviderUrl(
                provider=name, path=path, openai_base_path=f"{root}/{COMPAT}", openai_model_prefix=f"{name}/"
            )
        return ProviderUrl(provider=name, path=path)
