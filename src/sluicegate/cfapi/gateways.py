"""`accounts/{account_id}/ai-gateway/gateways[/{id}]`: list, create, get, update (PUT), delete.

Each handler translates Cloudflare's fields and calls the native admin API's operation, which
checks, stores, audits and tells the rest of the gateway, as it does for `/api/v1`.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from sluicegate.cfapi.envelope import page_of, success
from sluicegate.cfapi.params import only
from sluicegate.cfapi.settings import NATIVE_API, GatewayFields, cloudflare_gateway, native_changes, renamed
from sluicegate.endpoints.admin import AdminApi
from sluicegate.endpoints.body import read_body
from sluicegate.endpoints.gateway_etags import etag
from sluicegate.endpoints.schemas import validate
from sluicegate.errors import BadRequest
from sluicegate.gateway import Gateway, GatewaySettings, is_slug, slugify
from sluicegate.storage.gateway_query import GatewayQuery


class CloudflareGateways:
    def __init__(self, admin: AdminApi) -> None:
        self._admin = admin

    async def list(self, request: web.Request) -> web.Response:
        """The gateways the token reaches, by id; `search` keeps those whose id contains it."""
        only(request.query, "page", "per_page", "search")
        page = page_of(request.query)
        search = request.query.get("search", "").lower()
        query = GatewayQuery(request.match_info["account"], search, offset=page.offset, limit=page.per_page)
        shown, total = await self._admin.visible_page(request, query)  # the page read and parsed alone
        return success([cloudflare_gateway(g) for g in shown], page=page, count=len(shown), total=total)

    async def create(self, request: web.Request) -> web.Response:
        fields = await _fields(request)
        if fields.id is None:
            raise BadRequest("id: required: the gateway's id, which is its URL segment", field="id")
        if not is_slug(fields.id):
            guess = slugify(fields.id)
            hint = f"; did you mean {guess!r}?" if is_slug(guess) else ""
            raise BadRequest(
                f"id: {fields.id!r} is not a Sluicegate gateway id: lower-case letters, digits and '-',"
                f" at most 64, starting and ending with a letter or digit{hint}",
                field="id",
            )
        defaults = GatewaySettings()
        try:
            changes = native_changes(fields, defaults)
            settings = validate(GatewaySettings, defaults.model_dump() | changes, prefix="settings")
        except BadRequest as error:
            raise renamed(error) from error
        account = request.match_info["account"]
        gateway = await self._admin.create(request, account, fields.id, fields.id, settings)
        return _tagged(gateway)

    async def get(self, request: web.Request) -> web.Response:
        return _tagged(
            await self._admin.gateway(request.match_info["account"], request.match_info["gateway"])
        )

    async def update(self, request: web.Request) -> web.Response:
        """Cloudflare's PUT: the fields sent replace theirs; those left out, and every Sluicegate
        setting Cloudflare has no field for, keep their values. With `If-Match` (the `ETag` of a
        get), only if no other change was made since (a 412 otherwise: gateway_etags.py)."""
        account, slug = request.match_info["account"], request.match_info["gateway"]
        fields = await _fields(request)
        if fields.id is not None and fields.id != slug:
            raise BadRequest(
                f"id: a gateway's id is its URL and cannot change ({slug!r}, not {fields.id!r});"
                " create a gateway with the new id instead",
                field="id",
            )
        current = await self._admin.gateway(account, slug)
        try:
            changes = native_changes(fields, current.settings)
            updated = await self._admin.change(request, account, slug, None, changes)
        except BadRequest as error:
            raise renamed(error) from error
        return _tagged(updated)

    async def delete(self, request: web.Request) -> web.Response:
        """Deletes the gateway and answers it as it was. Its log records stay until retention."""
        account, slug = request.match_info["account"], request.match_info["gateway"]
        gateway = await self._admin.gateway(account, slug)
        await self._admin.delete(request, account, slug)
        return success(cloudflare_gateway(gateway))


def _tagged(gateway: Gateway) -> web.Response:
    """The gateway in Cloudflare's shape, with its `ETag`."""
    response = success(cloudflare_gateway(gateway))
    response.headers["ETag"] = etag(gateway)
    return response


async def _fields(request: web.Request) -> GatewayFields:
    """The body as Cloudflare's gateway fields. A Sluicegate setting sent here is pointed to the
    native API; any other unknown field gets the nearest Cloudflare name."""
    try:
        data: Any = orjson.loads(await read_body(request) or b"{}")
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    if isinstance(data, dict):
        for key in data:
            if key not in GatewayFields.model_fields and key in GatewaySettings.model_fields:
                raise BadRequest(
                    f"{key}: a Sluicegate setting that Cloudflare's API has no field for; set it"
                    f' through the native API: {NATIVE_API} with {{"settings": {{"{key}": …}}}}',
                    field=key,
                )
    return validate(GatewayFields, data)
