"""The admin API under `/api/v1`: gateways and their logs, as JSON. Schema at `/api/v1/openapi.json`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol

import orjson
from aiohttp import web

from sluicegate.buckets import carry_counters
from sluicegate.directory import GatewayDirectory
from sluicegate.endpoints.body import read_body
from sluicegate.endpoints.gateway_etags import IF_MATCH, changed_meanwhile, etag, expected_version
from sluicegate.endpoints.gateway_list import listing_query, listing_response, reached
from sluicegate.endpoints.guard import TOKEN, Guard
from sluicegate.endpoints.log_params import bad_cursor, is_log_id, log_query
from sluicegate.endpoints.openapi import openapi_document
from sluicegate.endpoints.query_params import check_params
from sluicegate.endpoints.reach import check_gateway, gateways_to_cover
from sluicegate.endpoints.schemas import (
    GatewayCreate,
    GatewayOut,
    GatewayUpdate,
    LogEntry,
    LogPage,
    parse_body,
    validate,
)
from sluicegate.errors import BadRequest, NotFound, PreconditionFailed, ServiceUnavailable
from sluicegate.feedback import Feedback, MetadataFull, counted_keys
from sluicegate.gateway import Gateway, GatewaySettings, is_slug, slugify
from sluicegate.pipeline.cache_keys import custom_prefix
from sluicegate.routing.route import parse_routes
from sluicegate.storage.base import GatewayStore, LogQuery, LogRecord, LogStore, RouteHistory
from sluicegate.storage.cache import Cache, CacheUnavailable
from sluicegate.storage.gateway_query import GatewayQuery
from sluicegate.tokens import Scope, TokenStore

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AdminStore(GatewayStore, LogStore, RouteHistory, TokenStore, Protocol):
    """Gateways (a saved route's versions with them), their log records, and the tokens that made
    them (whose metadata a feedback PATCH may not change)."""


class AdminApi:
    """Gateways, their logs and caches. Routes are added to the `/api/v1` sub-app by `build_api`."""

    def __init__(
        self,
        database: AdminStore,
        directory: GatewayDirectory,
        cache: Cache,
        guard: Guard,
        purgers: Sequence[Callable[[str], Awaitable[int]]] = (),
        watchers: Sequence[Callable[[Gateway], None]] = (),
        providers: Callable[[str], Awaitable[list[str]]] | None = None,
    ) -> None:
        self._db = database
        self._directory = directory
        self._cache = cache
        self._guard = guard
        self._purgers = purgers  # other caches to empty by key prefix on purge-all (semantic)
        self._watchers = watchers  # told of each gateway created or changed (the semantic cache warms up)
        # Every provider an account's requests may name (ProviderBook.names): a route's targets' must be.
        self._providers = providers

    def add_routes(self, app: web.Application) -> None:
        guard, gateways = self._guard, "/accounts/{account}/gateways"
        one = gateways + "/{gateway}"
        app.router.add_get("/openapi.json", self.openapi)
        app.router.add_get(gateways, guard(Scope.READ, self.list_gateways, narrowed=True))
        app.router.add_post(gateways, guard(Scope.ADMIN, self.create_gateway))
        app.router.add_get(one, guard(Scope.READ, self.get_gateway))
        app.router.add_patch(one, guard(Scope.ADMIN, self.update_gateway))
        app.router.add_delete(one, guard(Scope.ADMIN, self.delete_gateway))
        app.router.add_get(
            "/accounts/{account}/logs", guard(Scope.READ, self.list_account_logs, narrowed=True)
        )
        app.router.add_get(one + "/logs", guard(Scope.READ, self.list_logs))
        app.router.add_get(one + "/logs/{log_id}", guard(Scope.READ, self.get_log))
        # Writing feedback is more than reading: its own scope, so an app that collects its users'
        # thumbs needs neither `read` (every body in the logs) nor `admin`.
        app.router.add_patch(one + "/logs/{log_id}", guard(Scope.FEEDBACK, self.annotate_log))
        app.router.add_delete(one + "/cache", guard(Scope.PURGE_ALL, self.purge_cache))
        app.router.add_post("/cache/expire", self.expire_all_guarded)

    @property
    def expire_all_guarded(self) -> _Handler:
        """Purge-all behind its guard: served at `/api/v1/cache/expire` and `/ai_accelerator/expire`."""
        return self._guard(Scope.PURGE_ALL, self.expire_all, narrowed=True)

    async def expire_all(self, request: web.Request) -> web.Response:
        """Purge every cached answer the token reaches (Fastly AI Accelerator's purge-all): its
        account's, or only its gateways' when it is limited to some."""
        token = request[TOKEN]
        if token.gateways is None:
            prefixes = [f"{token.account}/"]
        else:  # cache keys and semantic scopes start with `account/slug/`
            prefixes = [f"{token.account}/{slug}/" for slug in token.gateways]
        purged = 0
        for prefix in prefixes:
            purged += await self._purge(prefix)
        await self._guard.audit(
            request, "cache.expire_all", token.account, gateways=token.gateways, purged=purged
        )
        return _json({"purged": purged})

    async def openapi(self, request: web.Request) -> web.Response:
        return _json(openapi_document())

    async def list_gateways(self, request: web.Request) -> web.Response:
        query = listing_query(request.match_info["account"], request[TOKEN], request.query)
        return listing_response(await self._db.gateway_page(query), query)

    async def create_gateway(self, request: web.Request) -> web.Response:
        body = parse_body(GatewayCreate, await read_body(request))
        gateway = await self.create(
            request, request.match_info["account"], body.name, body.slug, body.settings
        )
        return _json(await self.shown(gateway), status=201, headers={"ETag": etag(gateway)})

    async def get_gateway(self, request: web.Request) -> web.Response:
        gateway = await self.gateway(request.match_info["account"], request.match_info["gateway"])
        return _json(await self.shown(gateway), headers={"ETag": etag(gateway)})

    async def update_gateway(self, request: web.Request) -> web.Response:
        account, slug = request.match_info["account"], request.match_info["gateway"]
        body = parse_body(GatewayUpdate, await read_body(request))
        updated = await self.change(request, account, slug, body.name, body.settings)
        return _json(await self.shown(updated), headers={"ETag": etag(updated)})

    async def delete_gateway(self, request: web.Request) -> web.Response:
        await self.delete(request, request.match_info["account"], request.match_info["gateway"])
        return web.Response(status=204)

    async def list_account_logs(self, request: web.Request) -> web.Response:
        """Every gateway's records, newest first; `?gateway=` picks one. A token limited to some
        gateways sees only theirs (and a 403 for `?gateway=` another one)."""
        account, asked = request.match_info["account"], request.query.get("gateway") or None
        gateways = gateways_to_cover(asked, request[TOKEN])
        if asked is not None:
            await check_gateway(self._db, account, asked)
        query = log_query(account, None, request.query, also=("gateway",))
        return await self._log_page(replace(query, gateways=gateways))

    async def list_logs(self, request: web.Request) -> web.Response:
        account, gateway = request.match_info["account"], request.match_info["gateway"]
        await check_gateway(self._db, account, gateway)  # a typo is a 404, not an empty listing
        return await self._log_page(log_query(account, gateway, request.query))

    async def _log_page(self, query: LogQuery) -> web.Response:
        cursor = query.cursor
        # An id of another form may still be a record's (an imported one): only a cursor that names
        # none is refused, rather than answering from the start.
        if (
            cursor is not None
            and not is_log_id(cursor)
            and await self._db.get_log(query.account, cursor) is None
        ):
            raise bad_cursor(cursor)
        records = await self._db.query_logs(query)
        next_cursor = records[-1].id if len(records) == query.limit else None
        page = LogPage(result=[LogEntry.of(r) for r in records], next_cursor=next_cursor)
        return _json(page.model_dump())

    async def get_log(self, request: web.Request) -> web.Response:
        account, slug = request.match_info["account"], request.match_info["gateway"]
        record = await self.log(account, slug, request.match_info["log_id"])
        return _json(LogEntry.of(record, detail=True).model_dump())

    async def annotate_log(self, request: web.Request) -> web.Response:
        """Cloudflare's "Patch Gateway Log": feedback, score and metadata (see `feedback.py`)."""
        account, slug, log_id = (request.match_info[k] for k in ("account", "gateway", "log_id"))
        change = parse_body(Feedback, await read_body(request))
        reader = request[TOKEN].allows(Scope.READ, slug)  # `feedback` alone does not read records
        record = await self.annotate(account, slug, log_id, change, reader)
        return _json(LogEntry.of(record).model_dump() if reader else change.echo(log_id))

    async def purge_cache(self, request: web.Request) -> web.Response:
        """Purge a gateway's cached answers: all of them, or those stored under `?key=<cf-aig-cache-key>`
        (for every provider, endpoint and provider key that used that name)."""
        account, slug = request.match_info["account"], request.match_info["gateway"]
        check_params(request.query, ("key",))  # a misspelt `kye=` would purge every entry
        await self.gateway(account, slug)
        custom = request.query.get("key")
        prefix = f"{account}/{slug}/" if custom is None else custom_prefix(account, slug, custom)
        purged = await self._purge(prefix)  # the semantic vectors too, as purge-all does
        await self._guard.audit(request, "cache.purge", slug, key=custom, purged=purged)
        return _json({"purged": purged})

    # The operations behind the routes, also called by the Cloudflare-compatible API (`cfapi`).
    # `request` is the guarded request: the audit trail records its token as the actor.

    async def provider_names(self, account: str) -> list[str] | None:
        """Every provider the account's requests may name (None: not checked, as in unit tests)."""
        return None if self._providers is None else await self._providers(account)

    async def shown(self, gateway: Gateway) -> dict[str, Any]:
        """The gateway as the admin API answers it. Its `route_errors` also list the routes whose
        targets name a provider the account no longer has (a custom provider deleted since)."""
        out = GatewayOut.of(gateway)
        if gateway.settings.routes and (names := await self.provider_names(gateway.account)) is not None:
            out.route_errors = gateway.settings.route_errors(f"{gateway.account}/{gateway.slug}", names)
        return out.model_dump()

    async def gateway(self, account: str, slug: str) -> Gateway:
        """The gateway, or a 404."""
        gateway = await self._db.get_gateway(account, slug)
        if gateway is None:
            raise NotFound(f"no gateway {slug!r} in account {account!r}")
        return gateway

    async def visible_page(self, request: web.Request, query: GatewayQuery) -> tuple[list[Gateway], int]:
        """The page `query` selects of the gateways the request's token reaches, and how many
        there are in all (the page aside)."""
        query = reached(query, request[TOKEN])
        return await self._db.gateway_page(query), await self._db.count_gateways(query)

    async def create(
        self, request: web.Request, account: str, name: str, slug: str | None, settings: GatewaySettings
    ) -> Gateway:
        """A new gateway; its slug derived from `name` when not given. 409 when the slug is taken."""
        slug = slug or slugify(name)
        if not is_slug(slug):
            raise BadRequest(f"cannot derive a URL slug from name {name!r}; give `slug`", field="slug")
        if settings.routes and (names := await self.provider_names(account)) is not None:
            parse_routes(settings.routes, names)  # its targets' providers (the rest was checked)
        # A counter sent with a rule is not taken (buckets.py): two rules sharing one would mix.
        settings = settings.model_copy(update={"rate_limits": list(carry_counters((), settings.rate_limits))})
        gateway = await self._db.create_gateway(account, slug, name, settings)
        self._directory.invalidate(account, slug)
        for watch in self._watchers:
            watch(gateway)
        await self._guard.audit(request, "gateway.create", slug, name=name)
        return gateway

    async def change(
        self, request: web.Request, account: str, slug: str, name: str | None, settings: dict[str, Any] | None
    ) -> Gateway:
        """Rename a gateway and/or merge `settings` into its settings (a 400 names a bad one, as
        `settings.<field>`). With `cache_invalidate_on_update` on, its cached answers are purged.
        With `If-Match`, only if the gateway is still at the version it names (gateway_etags.py)."""
        current = await self.gateway(account, slug)
        if_match = request.headers.get(IF_MATCH)
        version = expected_version(if_match, current)  # a 412 at once when it changed already
        merged = None
        if settings is not None:
            settings = {k: v for k, v in settings.items() if k != "route_versions"}  # the gateway keeps them
            # Only the routes that differ from the stored ones are checked (a PUT sets one of 100).
            known: dict[str, Any] = {"valid_routes": current.settings.routes}
            if "routes" in settings:
                known["providers"] = await self.provider_names(account)
            merged = validate(GatewaySettings, current.settings.model_dump() | settings, "settings", known)
            # Each rule kept counts on where it stood: a rule added before a spent budget is no reset.
            merged = merged.model_copy(
                update={"rate_limits": list(carry_counters(current.settings.rate_limits, merged.rate_limits))}
            )
            if "routes" in settings:
                merged = await self._version_routes(request, current, merged)
        try:
            updated = await self._db.update_gateway(account, slug, name, merged, version)
        except PreconditionFailed:  # changed between the read above and the write
            if if_match is None or (now := await self._db.get_gateway(account, slug)) is None:
                raise
            raise changed_meanwhile(now, if_match) from None
        self._directory.invalidate(account, slug)
        if updated is None:
            raise NotFound(f"no gateway {slug!r} in account {account!r}")
        for watch in self._watchers:
            watch(updated)
        purged = None
        if updated.settings.cache_invalidate_on_update:
            purged = await self._purge(f"{account}/{slug}/")
        changes = {"name": name, "settings": settings, "purged": purged}
        await self._guard.audit(
            request, "gateway.update", slug, changes={k: v for k, v in changes.items() if v is not None}
        )
        return updated

    async def _version_routes(
        self, request: web.Request, current: Gateway, merged: GatewaySettings
    ) -> GatewaySettings:
        """Store each route that changed (or went) as its next version; `merged` with the new numbers."""
        before, after = current.settings.routes, merged.routes
        versions = dict(current.settings.route_versions)
        actor, now = request[TOKEN].id, time.time()
        for name in sorted(before.keys() | after.keys()):
            if before.get(name) == after.get(name):
                continue
            number = await self._db.add_route_version(
                current.account, current.slug, name, after.get(name), now, actor
            )
            if name in after:
                versions[name] = number
            else:
                versions.pop(name, None)
        return merged.model_copy(update={"route_versions": versions})

    async def delete(self, request: web.Request, account: str, slug: str) -> None:
        if not await self._db.delete_gateway(account, slug):
            raise NotFound(f"no gateway {slug!r} in account {account!r}")
        self._directory.invalidate(account, slug)
        await self._guard.audit(request, "gateway.delete", slug)

    async def log(self, account: str, slug: str, log_id: str) -> LogRecord:
        """One of the gateway's log records, or a 404."""
        record = await self._db.get_log(account, log_id)
        if record is None or record.gateway != slug:
            raise _no_log(log_id, slug)
        return record

    async def annotate(
        self, account: str, slug: str, log_id: str, change: Feedback, reader: bool
    ) -> LogRecord:
        """Apply feedback, score and metadata to one of the gateway's records (see `feedback.py`);
        the record as it is now, or a 404. A refusal says nothing of the record unless the token
        may read it (`reader`)."""
        if "metadata" in change.model_fields_set:
            change = change.fixing(await self._counted_keys(await self.log(account, slug, log_id)))
        try:
            record = await self._db.annotate_log(account, slug, log_id, change)
        except MetadataFull:
            if reader:
                raise
            raise MetadataFull.unread() from None
        if record is None:
            raise _no_log(log_id, slug)
        return record

    async def _counted_keys(self, record: LogRecord) -> frozenset[str]:
        """The keys `record` was counted under (`feedback.counted_keys`): its gateway's rules' and
        its token's, as they are now (a token is kept, revoked, once it was used)."""
        gateway = await self._directory.get(record.account, record.gateway)
        scopes = [rule.scope for rule in gateway.settings.rate_limits] if gateway else []
        token = await self._db.token_by_id(record.account, record.token_id) if record.token_id else None
        return counted_keys(scopes, token.metadata if token else ())

    async def delete_logs(self, request: web.Request, query: LogQuery) -> int:
        """Delete the log records `query` selects (of one gateway); audited with the count."""
        if query.gateway is None:
            raise ValueError("deleting logs needs a gateway")
        await self.gateway(query.account, query.gateway)
        deleted = await self._db.delete_matching_logs(query)
        await self._guard.audit(request, "logs.delete", query.gateway, deleted=deleted)
        return deleted

    async def _purge(self, prefix: str) -> int:
        """Empty the exact cache and the other caches (semantic) under a key prefix."""
        try:
            purged = await self._cache.purge(prefix)
            for purge in self._purgers:
                purged += await purge(prefix)
        except CacheUnavailable as exc:
            raise _cache_down(exc) from exc
        return purged


def _no_log(log_id: str, slug: str) -> NotFound:
    """The 404 for a log id the gateway holds no record of, saying why an id may name none."""
    return NotFound(
        f"no log {log_id!r} in gateway {slug!r}. A request sent with cf-aig-collect-log: false, or"
        " through a gateway whose collect_logs is off, has no record (its answer carries no"
        " cf-aig-log-id); a record is stored a moment after its answer and deleted as the gateway's"
        " retention_days and max_records say"
    )


def _cache_down(exc: CacheUnavailable) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"the cache cannot be reached, so nothing was purged; try again ({exc})", headers={"Retry-After": "1"}
    )


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(data), content_type="application/json", headers=headers
    )
