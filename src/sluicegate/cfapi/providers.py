"""`…/gateways/{id}/provider_configs` (stored provider keys) and `…/gateways/{id}/url/{provider}`.

A stored key is write-only: it is sealed and stored by the native access API, and what comes back
is its fingerprint. A config created here is the provider's key named `default`; the other keys of
a provider's pool (named, weighted, all used: docs/access.md) are stored through the native API
and listed here under their names as aliases.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from sluicegate.cfapi.envelope import page_of, success
from sluicegate.cfapi.params import only
from sluicegate.cfapi.settings import NATIVE_API, iso_time
from sluicegate.endpoints.access import AccessApi
from sluicegate.endpoints.admin import AdminApi
from sluicegate.endpoints.body import read_body
from sluicegate.endpoints.custom_providers import CustomProviderApi
from sluicegate.endpoints.proxy import COMPAT
from sluicegate.endpoints.schemas import KeyIn, parse_body, validate
from sluicegate.errors import BadRequest, UnknownProvider
from sluicegate.hints import did_you_mean
from sluicegate.own_origin import gateway_origin
from sluicegate.storage.base import StoredKey

ALIAS = "default"


class ProviderConfigFields(BaseModel):
    """Cloudflare's provider config create body (cloudflare 5.9.0, `provider_config_create_params`)."""

    model_config = ConfigDict(extra="forbid")

    alias: str
    default_config: bool
    provider_slug: str
    rate_limit: float | None = None
    rate_limit_period: float | None = None
    secret: str | None = None
    secret_id: str | None = None


class CloudflareProviders:
    def __init__(
        self, admin: AdminApi, access: AccessApi, custom: CustomProviderApi, providers: Collection[str]
    ) -> None:
        self._admin = admin
        self._access = access
        self._custom = custom
        self._endpoints = sorted({*providers, COMPAT})

    async def list_configs(self, request: web.Request) -> web.Response:
        only(request.query, "page", "per_page")
        page = page_of(request.query)
        stored = await self._access.stored_keys(request.match_info["account"], request.match_info["gateway"])
        shown = stored[page.offset : page.offset + page.per_page]
        return success(
            [provider_config(key) for key in shown], page=page, count=len(shown), total=len(stored)
        )

    async def create_config(self, request: web.Request) -> web.Response:
        account, slug = request.match_info["account"], request.match_info["gateway"]
        fields = parse_body(ProviderConfigFields, await read_body(request))
        _refuse_unservable(fields)
        if fields.secret is None:
            raise BadRequest(
                "secret: required: Sluicegate keeps provider keys itself (it has no Secrets Store for"
                " secret_id to name); send the key in `secret`",
                field="secret",
            )
        try:
            secret = validate(KeyIn, {"key": fields.secret}).key  # the native API's limits on a key
        except BadRequest as error:
            raise BadRequest("secret" + error.message.removeprefix("key"), field="secret") from error
        stored = await self._access.store_key(request, account, slug, fields.provider_slug, secret)
        return success(provider_config(stored))

    async def url(self, request: web.Request) -> web.Response:
        """This Sluicegate's endpoint for a provider (or `compat`), at the address the call came to
        (or the one a proxy in front says it came to: own_origin.py)."""
        only(request.query)
        account, slug = request.match_info["account"], request.match_info["gateway"]
        await self._admin.gateway(account, slug)
        provider = request.match_info["provider"]
        if provider not in self._endpoints:
            known = sorted({*self._endpoints, *(p.provider_name for p in await self._custom.all(account))})
            if provider not in known:
                raise UnknownProvider(
                    f"unknown provider {provider!r}{did_you_mean(provider, known)}", providers=known
                )
        origin = gateway_origin(request.headers, request.scheme) or str(request.url.origin())
        return success(f"{origin}/v1/{account}/{slug}/{provider}")


def _refuse_unservable(fields: ProviderConfigFields) -> None:
    if fields.alias != ALIAS:
        raise BadRequest(
            f"alias: a provider config is the provider's key named {ALIAS!r} here (storing replaces it);"
            f" send alias {ALIAS!r}, not {fields.alias!r}. Other named keys join the provider's weighted"
            f" pool through {NATIVE_API} (PUT …/provider-keys/{{provider}}/{{name}})",
            field="alias",
        )
    if not fields.default_config:
        raise BadRequest(
            "default_config: a stored key is always the provider's default in Sluicegate; send true",
            field="default_config",
        )
    if fields.rate_limit is not None or fields.rate_limit_period is not None:
        name = "rate_limit" if fields.rate_limit is not None else "rate_limit_period"
        raise BadRequest(
            f"{name}: per-key rate limits are not supported; limit the gateway instead (its"
            f" rate_limiting_* fields, or settings.rate_limits per provider through {NATIVE_API})",
            field=name,
        )
    if fields.secret_id is not None:
        raise BadRequest(
            "secret_id: Sluicegate has no Secrets Store to refer to; send the key in `secret` instead",
            field="secret_id",
        )


def provider_config(key: StoredKey) -> dict[str, Any]:
    """A stored key as Cloudflare shows a provider config: never the key, only its fingerprint."""
    return {
        "id": key.provider if key.name == ALIAS else f"{key.provider}:{key.name}",
        "alias": key.name,
        "default_config": key.name == ALIAS,
        "gateway_id": key.gateway,
        "modified_at": iso_time(key.created_at),
        "provider_slug": key.provider,
        "secret_id": key.fingerprint.split("…", 1)[0],
        "secret_preview": key.fingerprint,
        "rate_limit": None,
        "rate_limit_period": None,
    }
