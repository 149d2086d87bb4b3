"""The admin API's custom provider routes: an account's own OpenAI-compatible servers.

`/api/v1/accounts/{account}/custom-providers[/{provider}]`, `{provider}` being the id or the slug.
Requests reach one as `custom-{slug}` (see custom_providers.py). Its `headers` are write-only:
sealed when stored, sent upstream, answered as their names alone. The routes act on the whole
account: reading needs `read`, changing needs `admin`, both a token not limited to gateways.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sluicegate.credentials import MASK
from sluicegate.custom_providers import (
    CustomProviderDirectory,
    seal_headers,
    sendable_headers,
    unseal_headers,
)
from sluicegate.endpoints.body import read_body
from sluicegate.endpoints.guard import Guard
from sluicegate.endpoints.schemas import json_response, parse_body, validate
from sluicegate.errors import BadRequest, Conflict, NotFound
from sluicegate.gateway import SLUG_PATTERN
from sluicegate.hints import did_you_mean
from sluicegate.hosts import base_url_problem
from sluicegate.storage.base import CUSTOM_PREFIX, CustomProvider, CustomProviderStore
from sluicegate.tokens import Scope

ROUTE = "/accounts/{account}/custom-providers"


class CustomProviderIn(BaseModel):
    """A custom provider as created, or as it is after an update (checked whole)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(pattern=SLUG_PATTERN, description="requests reach the provider as custom-{slug}")
    base_url: str = Field(
        min_length=1,
        max_length=2048,
        description="https://…, to which each request's path is appended; plain http, an IP address"
        " or a port only for a host listed in SLUICEGATE_ALLOWED_HOSTS",
    )
    enable: bool = Field(True, description="false: requests for it are refused (403)")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="sent upstream with every request, replacing the request's own of the same name;"
        f" they may hold credentials: write-only, answered as their names. On update, a value of"
        f" {MASK!r} keeps the stored value of that header",
    )
    beta: bool = False
    description: str | None = Field(None, max_length=2000)
    curl_example: str | None = Field(None, max_length=8192)
    js_example: str | None = Field(None, max_length=8192)
    link: str | None = Field(None, max_length=2048)
    position: int = Field(0, ge=0, description="listings sort by position, then name")

    @field_validator("headers")
    @classmethod
    def _sendable(cls, headers: dict[str, str]) -> dict[str, str]:
        return sendable_headers(headers)


class CustomProviderUpdate(BaseModel):
    """A partial update: the fields given replace theirs (`headers` as a whole set)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    slug: str | None = None
    base_url: str | None = None
    enable: bool | None = None
    headers: dict[str, str] | None = None
    beta: bool | None = None
    description: str | None = None
    curl_example: str | None = None
    js_example: str | None = None
    link: str | None = None
    position: int | None = None


class CustomProviderOut(BaseModel):
    id: str
    account: str
    slug: str
    provider: str = Field(description="what requests call it: custom-{slug}")
    name: str
    base_url: str
    enable: bool
    beta: bool
    description: str | None
    curl_example: str | None
    js_example: str | None
    link: str | None
    position: int
    header_names: list[str] = Field(description="the stored headers' names (their values are never shown)")
    created_at: float
    modified_at: float

    @classmethod
    def of(cls, provider: CustomProvider) -> CustomProviderOut:
        return cls.model_validate(provider.model_dump() | {"provider": provider.provider_name})


class CustomProviderList(BaseModel):
    result: list[CustomProviderOut]


class CustomProviderApi:
    def __init__(
        self,
        store: CustomProviderStore,
        directory: CustomProviderDirectory,
        guard: Guard,
        registry: Collection[str],
    ) -> None:
        self._store = store
        self._directory = directory
        self._guard = guard
        self._registry = frozenset(registry)  # names an account's `custom-{slug}` must not take

    def add_routes(self, app: web.Application) -> None:
        guard, one = self._guard, ROUTE + "/{provider}"
        app.router.add_get(ROUTE, guard(Scope.READ, self.list_providers))
        app.router.add_post(ROUTE, guard(Scope.ADMIN, self.create_provider))
        app.router.add_get(one, guard(Scope.READ, self.get_provider))
        app.router.add_patch(one, guard(Scope.ADMIN, self.update_provider))
        app.router.add_delete(one, guard(Scope.ADMIN, self.delete_provider))

    async def list_providers(self, request: web.Request) -> web.Response:
        providers = await self.all(request.match_info["account"])
        return json_response(CustomProviderList(result=[CustomProviderOut.of(p) for p in providers]))

    async def create_provider(self, request: web.Request) -> web.Response:
        fields = parse_body(CustomProviderIn, await read_body(request))
        created = await self.create(request, request.match_info["account"], fields)
        return json_response(CustomProviderOut.of(created), status=201)

    async def get_provider(self, request: web.Request) -> web.Response:
        provider = await self.one(request.match_info["account"], request.match_info["provider"])
        return json_response(CustomProviderOut.of(provider))

    async def update_provider(self, request: web.Request) -> web.Response:
        change = parse_body(CustomProviderUpdate, await read_body(request))
        changes = change.model_dump(include=change.model_fields_set)
        account, ref = request.match_info["account"], request.match_info["provider"]
        return json_response(CustomProviderOut.of(await self.change(request, account, ref, changes)))

    async def delete_provider(self, request: web.Request) -> web.Response:
        await self.delete(request, request.match_info["account"], request.match_info["provider"])
        return web.Response(status=204)

    # The operations behind the routes, also called by the Cloudflare-compatible API (`cfapi`).

    async def all(self, account: str) -> list[CustomProvider]:
        """The account's custom providers, by position and then name (Cloudflare's order)."""
        stored = [provider for provider, _ in await self._store.custom_providers(account)]
        return sorted(stored, key=lambda p: (p.position, p.name, p.slug))

    async def one(self, account: str, ref: str) -> CustomProvider:
        """The provider whose id or slug is `ref`, or a 404 naming the nearest slug."""
        return (await self._stored(account, ref))[0]

    async def create(self, request: web.Request, account: str, fields: CustomProviderIn) -> CustomProvider:
        self._check(fields)
        now = time.time()
        values = fields.model_dump(exclude={"headers"})
        provider = CustomProvider(
            **values, id=str(uuid.uuid4()), account=account, header_names=tuple(fields.headers),
            created_at=now, modified_at=now,
        )  # fmt: skip
        await self._store.create_custom_provider(
            provider, seal_headers(self._directory.vault, fields.headers)
        )
        self._directory.forget(account)
        await self._audit(request, "custom_provider.create", provider)
        return provider

    async def change(
        self, request: web.Request, account: str, ref: str, changes: dict[str, Any]
    ) -> CustomProvider:
        """Apply `changes` (fields by name; `headers` replaces the whole set, null clears it, and a
        value of `[redacted]` keeps that header's stored value); the result is checked whole."""
        current, sealed = await self._stored(account, ref)
        new_headers = "headers" in changes
        headers = self._kept(changes.pop("headers") or {}, sealed) if new_headers else {}
        values = current.model_dump(include=set(CustomProviderIn.model_fields)) | changes
        fields = validate(CustomProviderIn, values | {"headers": headers})
        self._check(fields)
        update = fields.model_dump(exclude={"headers"}) | {"modified_at": time.time()}
        if new_headers:
            update["header_names"] = tuple(fields.headers)
            sealed = seal_headers(self._directory.vault, fields.headers)
        updated = current.model_copy(update=update)
        if not await self._store.update_custom_provider(updated, sealed):
            raise NotFound(f"no custom provider {ref!r} in account {account!r}")
        self._directory.forget(account)
        changed = sorted([*changes, *(["headers"] if new_headers else [])])
        await self._audit(request, "custom_provider.update", updated, changed=changed)
        return updated

    async def delete(self, request: web.Request, account: str, ref: str) -> CustomProvider:
        """Delete the provider; answers it as it was."""
        provider = await self.one(account, ref)
        if not await self._store.delete_custom_provider(account, provider.id):
            raise NotFound(f"no custom provider {ref!r} in account {account!r}")
        self._directory.forget(account)
        await self._audit(request, "custom_provider.delete", provider)
        return provider

    async def _stored(self, account: str, ref: str) -> tuple[CustomProvider, bytes | None]:
        stored = await self._store.custom_providers(account)
        for provider, sealed in stored:
            if ref in (provider.id, provider.slug, provider.provider_name):
                return provider, sealed
        slugs = [provider.slug for provider, _ in stored]
        raise NotFound(f"no custom provider {ref!r} in account {account!r}{did_you_mean(ref, slugs)}")

    def _kept(self, headers: dict[str, str], sealed: bytes | None) -> dict[str, str]:
        """`headers` with each `[redacted]` value replaced by the one stored for that header."""
        masked = [name for name, value in headers.items() if value == MASK]
        if not masked:
            return headers
        stored = unseal_headers(self._directory.vault, sealed)
        if stored is None:
            raise Conflict(
                "headers: the stored values were sealed under another master key (SLUICEGATE_SECRET_KEY);"
                f" send every value instead of {MASK!r}",
                field="headers",
            )
        lower = {name.lower(): value for name, value in stored.items()}
        for name in masked:
            if name.lower() not in lower:
                raise BadRequest(
                    f"headers.{name}: {MASK!r} keeps a stored value, but no header {name!r} is stored",
                    field=f"headers.{name}",
                )
        return {name: lower[name.lower()] if value == MASK else value for name, value in headers.items()}

    def _check(self, fields: CustomProviderIn) -> None:
        problem = base_url_problem(fields.base_url, self._directory.allowed_hosts)
        if problem is not None:
            raise BadRequest(f"base_url: {problem}", field="base_url")
        if CUSTOM_PREFIX + fields.slug in self._registry:
            raise Conflict(
                f"slug: {CUSTOM_PREFIX}{fields.slug} is already a provider configured for the whole"
                " Sluicegate (custom_providers); choose another slug",
                field="slug",
            )

    async def _audit(
        self, request: web.Request, action: str, provider: CustomProvider, **details: Any
    ) -> None:
        await self._guard.audit(
            request,
            action,
            provider.slug,
            id=provider.id,
            base_url=provider.base_url,
            enable=provider.enable,
            header_names=list(provider.header_names),  # never their values
            **details,
        )
