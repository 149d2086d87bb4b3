"""The admin API's access routes: tokens, stored provider keys, the audit trail, `whoami`."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import Any

from aiohttp import web

from sluicegate.allowance import Allowance
from sluicegate.endpoints.body import read_body
from sluicegate.endpoints.guard import TOKEN, Guard
from sluicegate.endpoints.schemas import (
    AuditList,
    KeyIn,
    KeyList,
    KeyOut,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenOut,
    TokenUpdate,
    json_response,
    parse_body,
)
from sluicegate.errors import BadRequest, Forbidden, NotFound, UnknownProvider
from sluicegate.hints import did_you_mean, no_gateway
from sluicegate.keys import KeyDirectory
from sluicegate.storage.base import Database, StoredKey
from sluicegate.tokens import Scope, Token, TokenDirectory, hash_secret, new_token


class AccessApi:
    def __init__(
        self,
        database: Database,
        tokens: TokenDirectory,
        keys: KeyDirectory,
        guard: Guard,
        providers: Collection[str],
    ) -> None:
        self._db = database
        self._tokens = tokens
        self._keys = keys
        self._guard = guard
        self._providers = sorted(providers)  # stored keys and token allow-lists name only these

    def add_routes(self, app: web.Application) -> None:
        guard, account = self._guard, "/accounts/{account}"
        keys = account + "/gateways/{gateway}/provider-keys"
        app.router.add_get("/whoami", guard(None, self.whoami, narrowed=True))
        app.router.add_get(account + "/tokens", guard(Scope.ADMIN, self.list_tokens))
        # A limited admin may hand out its own powers (see create_token), never list or revoke others'.
        app.router.add_post(account + "/tokens", guard(Scope.ADMIN, self.create_token, narrowed=True))
        app.router.add_patch(account + "/tokens/{token_id}", guard(Scope.ADMIN, self.update_token))
        app.router.add_delete(account + "/tokens/{token_id}", guard(Scope.ADMIN, self.revoke_token))
        app.router.add_get(keys, guard(Scope.ADMIN, self.list_keys))
        app.router.add_put(keys + "/{provider}", guard(Scope.ADMIN, self.put_key))
        app.router.add_delete(keys + "/{provider}", guard(Scope.ADMIN, self.delete_key))
        app.router.add_get(account + "/audit", guard(Scope.ADMIN, self.audit))

    async def whoami(self, request: web.Request) -> web.Response:
        return json_response(TokenOut.of(request[TOKEN]))

    async def list_tokens(self, request: web.Request) -> web.Response:
        tokens = await self._db.list_tokens(request.match_info["account"])
        return json_response(TokenList(result=[TokenOut.of(t) for t in tokens]))

    async def create_token(self, request: web.Request) -> web.Response:
        account = request.match_info["account"]
        body = parse_body(TokenCreate, await read_body(request))
        expires_at = body.expires_at or (time.time() + body.expires_in if body.expires_in else None)
        creator = request[TOKEN]
        overreach = creator.overreach(body.scopes, body.gateways, expires_at, body)
        if overreach is not None:
            raise Forbidden(
                f"a token cannot create one wider than itself: {overreach}", token_gateways=creator.gateways
            )
        if body.gateways is not None:
            await self._check_gateways(account, body.gateways)
        await self._check_providers(account, body.providers)
        token, secret = new_token(account, body.name, body.scopes, body.gateways, expires_at)
        token = token.model_copy(update=body.allowance())
        await self._db.create_token(token, hash_secret(secret))
        await self._guard.audit(
            request,
            "token.create",
            token.id,
            name=token.name,
            scopes=list(token.scopes),
            gateways=token.gateways,
            **_allowance_details(token),
        )
        return json_response(TokenCreated(**TokenOut.of(token).model_dump(), token=secret), status=201)

    async def update_token(self, request: web.Request) -> web.Response:
        """A token's name and allowance change; its secret, scopes, gateways and expiry do not."""
        account, token_id = request.match_info["account"], request.match_info["token_id"]
        body = parse_body(TokenUpdate, await read_body(request))
        current = next((t for t in await self._db.list_tokens(account) if t.id == token_id), None)
        if current is None or current.revoked_at is not None:
            raise NotFound(f"no active token {token_id!r} in account {account!r}")
        changes = {
            name: getattr(body, name) for name in body.model_fields_set if name in Allowance.model_fields
        }
        if body.name is not None:
            changes["name"] = body.name
        updated = current.model_copy(update=changes)
        caller = request[TOKEN]
        overreach = caller.overreach(updated.scopes, updated.gateways, updated.expires_at, updated)
        if overreach is not None:
            raise Forbidden(f"a token cannot give one more than it has itself: {overreach}")
        await self._check_providers(account, updated.providers)
        if not await self._db.update_token(updated):
            raise NotFound(f"no active token {token_id!r} in account {account!r}")
        self._tokens.forget(token_id)
        await self._guard.audit(request, "token.update", token_id, **_allowance_details(updated))
        return json_response(TokenOut.of(updated))

    async def _check_providers(self, account: str, providers: tuple[str, ...] | None) -> None:
        """A 400 for a provider that does not exist (a token limited to a typo could use nothing).
        The account's own custom providers count (read only when a name is not a built-in one)."""
        known: list[str] | None = None
        for index, name in enumerate(providers or ()):
            if name in self._providers:
                continue
            if known is None:
                customs = await self._db.custom_providers(account)
                known = sorted({*self._providers, *(p.provider_name for p, _ in customs)})
            if name not in known:
                raise BadRequest(
                    f"providers.{index}: no provider {name!r}{did_you_mean(name, known)}",
                    field=f"providers.{index}",
                    providers=known,
                )

    async def _check_gateways(self, account: str, slugs: Sequence[str]) -> None:
        """A 400 for a token limited to a gateway that does not exist (a typo would make it useless)."""
        known = [g.slug for g in await self._db.list_gateways(account)]
        for slug in slugs:
            if slug not in known:
                raise BadRequest(
                    f"gateways: {no_gateway(account, slug, known)}", field="gateways", gateways=known
                )

    async def revoke_token(self, request: web.Request) -> web.Response:
        account, token_id = request.match_info["account"], request.match_info["token_id"]
        if not await self._db.revoke_token(account, token_id, time.time()):
            raise NotFound(f"no active token {token_id!r} in account {account!r}")
        self._tokens.forget(token_id)
        await self._guard.audit(request, "token.revoke", token_id)
        return web.Response(status=204)

    async def list_keys(self, request: web.Request) -> web.Response:
        stored = await self.stored_keys(request.match_info["account"], request.match_info["gateway"])
        return json_response(KeyList(result=[KeyOut.of(key) for key in stored]))

    async def put_key(self, request: web.Request) -> web.Response:
        account, gateway = request.match_info["account"], request.match_info["gateway"]
        body = parse_body(KeyIn, await read_body(request))
        stored = await self.store_key(request, account, gateway, request.match_info["provider"], body.key)
        return json_response(KeyOut.of(stored), status=201)

    async def delete_key(self, request: web.Request) -> web.Response:
        account, gateway = await self._gateway(request)
        provider = request.match_info["provider"]
        if not await self._db.delete_provider_key(account, gateway, provider):
            raise NotFound(f"no stored key for {provider!r} in gateway {gateway!r}")
        self._keys.forget(account, gateway)
        await self._guard.audit(request, "provider_key.delete", f"{gateway}/{provider}")
        return web.Response(status=204)

    # The operations behind the key routes, also called by the Cloudflare-compatible API (`cfapi`).

    async def stored_keys(self, account: str, gateway: str) -> list[StoredKey]:
        """The gateway's stored provider keys: fingerprints only, never a key."""
        await self._exists(account, gateway)
        return [key for key, _ in await self._db.provider_keys(account, gateway)]

    async def store_key(
        self, request: web.Request, account: str, gateway: str, provider: str, key: str
    ) -> StoredKey:
        """Seal and store `key` as the gateway's key for `provider` (replacing one stored before)."""
        await self._exists(account, gateway)
        if provider not in self._providers:
            raise UnknownProvider(
                f"unknown provider {provider!r}{did_you_mean(provider, self._providers)}",
                providers=self._providers,
            )
        stored = await self._keys.store(account, gateway, provider, key)
        await self._guard.audit(
            request, "provider_key.put", f"{gateway}/{provider}", fingerprint=stored.fingerprint
        )
        return stored

    async def audit(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            raise BadRequest("limit must be an integer", param="limit") from None
        entries = await self._db.audit_log(request.match_info["account"], max(1, min(limit, 1000)))
        return json_response(AuditList.of(entries))

    async def _gateway(self, request: web.Request) -> tuple[str, str]:
        account, gateway = request.match_info["account"], request.match_info["gateway"]
        await self._exists(account, gateway)
        return account, gateway

    async def _exists(self, account: str, gateway: str) -> None:
        if await self._db.get_gateway(account, gateway) is None:
            raise NotFound(f"no gateway {gateway!r} in account {account!r}")


def _allowance_details(token: Token) -> dict[str, Any]:
    """What the audit trail records of a token's allowance (only what it sets)."""
    return {
        "rules": [rule.model_dump() for rule in token.rules] or None,
        "models": token.models,
        "providers": token.providers,
        "metadata": token.metadata or None,
    }
