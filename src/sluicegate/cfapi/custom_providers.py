"""`accounts/{account_id}/ai-gateway/custom-providers[/{id}]`: list, create, get, update, delete.

Cloudflare's account-level custom providers are the native ones (endpoints/custom_providers.py)
field for field, but for `headers`: Cloudflare sends a JSON object as a string, and Sluicegate
answers it with each value masked (`{"Authorization": "[redacted]"}`), never the value; sent back
as read, a masked value keeps the stored one. `logo` (a generated image at Cloudflare) is null.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict

from sluicegate.cfapi.envelope import page_of, success
from sluicegate.cfapi.params import boolean, only
from sluicegate.cfapi.settings import iso_time
from sluicegate.credentials import MASK
from sluicegate.endpoints.body import read_body
from sluicegate.endpoints.custom_providers import CustomProviderApi, CustomProviderIn
from sluicegate.endpoints.schemas import parse_body, validate
from sluicegate.errors import BadRequest
from sluicegate.storage.base import CustomProvider

HEADERS_EXAMPLE = '{"Authorization": "Bearer …"}'


class CustomProviderFields(BaseModel):
    """Cloudflare's custom provider body (cloudflare 5.9.0, `custom_provider_create_params`)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = None
    name: str | None = None
    slug: str | None = None
    beta: bool | None = None
    curl_example: str | None = None
    description: str | None = None
    enable: bool | None = None
    headers: str | None = None
    js_example: str | None = None
    link: str | None = None
    position: int | None = None


class CloudflareCustomProviders:
    def __init__(self, providers: CustomProviderApi) -> None:
        self._providers = providers

    async def list(self, request: web.Request) -> web.Response:
        """By position, then name; `search` keeps those whose id, name or slug contains it."""
        params = request.query
        only(params, "page", "per_page", "beta", "enable", "search")
        page = page_of(params)
        found = await self._providers.all(request.match_info["account"])
        for flag in ("beta", "enable"):
            if flag in params:
                wanted = boolean(params[flag], flag)
                found = [p for p in found if getattr(p, flag) == wanted]
        if search := params.get("search", "").lower():
            found = [p for p in found if any(search in text.lower() for text in (p.id, p.name, p.slug))]
        shown = found[page.offset : page.offset + page.per_page]
        return success(
            [cloudflare_custom_provider(p) for p in shown], page=page, count=len(shown), total=len(found)
        )

    async def create(self, request: web.Request) -> web.Response:
        changes = await _changes(request)
        for required in ("base_url", "name", "slug"):
            if changes.get(required) is None:
                raise BadRequest(f"{required}: required", field=required)
        fields = validate(CustomProviderIn, {k: v for k, v in changes.items() if v is not None})
        created = await self._providers.create(request, request.match_info["account"], fields)
        return success(cloudflare_custom_provider(created))

    async def get(self, request: web.Request) -> web.Response:
        provider = await self._providers.one(request.match_info["account"], request.match_info["id"])
        return success(cloudflare_custom_provider(provider))

    async def update(self, request: web.Request) -> web.Response:
        """PUT or PATCH (the SDK has no method for it): the fields sent replace theirs, the others
        keep their values."""
        account, ref = request.match_info["account"], request.match_info["id"]
        updated = await self._providers.change(request, account, ref, await _changes(request))
        return success(cloudflare_custom_provider(updated))

    async def delete(self, request: web.Request) -> web.Response:
        """Deletes the provider and answers it as it was."""
        deleted = await self._providers.delete(
            request, request.match_info["account"], request.match_info["id"]
        )
        return success(cloudflare_custom_provider(deleted))


async def _changes(request: web.Request) -> dict[str, Any]:
    """The fields sent, as native values (`headers` parsed from its JSON text)."""
    fields = parse_body(CustomProviderFields, await read_body(request))
    changes = fields.model_dump(include=fields.model_fields_set)
    if "headers" in changes:
        changes["headers"] = _headers(changes["headers"])
    return changes


def _headers(text: str | None) -> dict[str, str] | None:
    if text is None or not text.strip():
        return None
    try:
        headers = orjson.loads(text)
    except orjson.JSONDecodeError:
        headers = None
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise BadRequest(
            f"headers: must be a JSON object of header names to text values, e.g. {HEADERS_EXAMPLE}",
            field="headers",
        )
    return headers


def cloudflare_custom_provider(provider: CustomProvider) -> dict[str, Any]:
    """A custom provider in Cloudflare's fields: its headers by name only, each value masked."""
    headers = {name: MASK for name in provider.header_names}
    return {
        "id": provider.id,
        "base_url": provider.base_url,
        "created_at": iso_time(provider.created_at),
        "modified_at": iso_time(provider.modified_at),
        "name": provider.name,
        "slug": provider.slug,
        "beta": provider.beta,
        "curl_example": provider.curl_example,
        "description": provider.description,
        "enable": provider.enable,
        "headers": orjson.dumps(headers).decode() if headers else None,
        "js_example": provider.js_example,
        "link": provider.link,
        "logo": None,
        "position": provider.position,
    }
