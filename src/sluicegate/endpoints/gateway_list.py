"""`GET /accounts/{a}/gateways`: the gateways a token reaches, all of them or a page (`limit`, `cursor`).

Without `limit` the answer is every gateway, as it always was; with it, a page by slug and the
`next_cursor` to pass as `cursor` for the next one (null on the last page), as the log listings
page. The page is selected in SQL, and each gateway's settings are written with pydantic's
serializer into the answer (no model of the whole listing is built and dumped again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import orjson
from aiohttp import web

from sluicegate.endpoints.gateway_etags import etag
from sluicegate.endpoints.query_params import check_params
from sluicegate.errors import BadRequest
from sluicegate.gateway import Gateway, is_slug
from sluicegate.storage.gateway_query import GatewayQuery
from sluicegate.tokens import Token

MAX_PAGE = 1000
PARAMS = ("limit", "cursor")
IGNORED = ("_",)  # a browser client's cache buster (jQuery's `cache: false` sends `_=<time>`)
_THEIRS = ("page", "per_page", "offset")  # other APIs' page parameters: say which this one takes


def listing_query(account: str, token: Token, params: Mapping[str, str]) -> GatewayQuery:
    """The query of the listing's parameters; one page more than asked is read, to know whether
    there is a next page. A parameter it does not take is a 400 (ignored, `per_page=20` would
    answer every gateway), but for `IGNORED`."""
    for given in params:
        if given in _THEIRS:
            raise BadRequest(
                f"unknown parameter {given!r}; this listing pages with limit (1-{MAX_PAGE}) and cursor"
                " (the previous page's next_cursor)",
                param=given,
            )
    check_params(params, PARAMS, ignored=IGNORED)
    limit = _limit(params.get("limit"))
    cursor = params.get("cursor")
    if cursor is not None and not is_slug(cursor):
        raise BadRequest(
            f"cursor must be the next_cursor of the previous page (a gateway slug), got {cursor!r}",
            param="cursor",
        )
    query = GatewayQuery(account, after=cursor, limit=None if limit is None else limit + 1)
    return reached(query, token)


def reached(query: GatewayQuery, token: Token) -> GatewayQuery:
    """`query` kept to the gateways `token` reaches."""
    return query if token.gateways is None else replace(query, slugs=frozenset(token.gateways))


def listing_response(gateways: Sequence[Gateway], query: GatewayQuery) -> web.Response:
    """`{"result": [...], "next_cursor": slug | null}` for the gateways `listing_query`'s query read."""
    more = query.limit is not None and len(gateways) == query.limit
    shown = gateways[:-1] if more else gateways
    body = {"result": [gateway_json(g) for g in shown], "next_cursor": shown[-1].slug if more else None}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def gateway_json(gateway: Gateway) -> dict[str, Any]:
    """A gateway as `GatewayOut` writes it."""
    return {
        "account": gateway.account,
        "slug": gateway.slug,
        "name": gateway.name,
        "settings": orjson.Fragment(gateway.settings.model_dump_json()),
        "created_at": gateway.created_at,
        "modified_at": gateway.modified_at,
        "etag": etag(gateway),
    }


def _limit(value: str | None) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_PAGE:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_PAGE}, got {value!r}", param="limit")
    return int(value)
