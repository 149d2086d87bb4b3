"""The admin API's access routes: tokens, stored provider keys, the audit trail, `whoami`.

Provider keys are named: `…/provider-keys/{provider}/{name}`; `…/provider-keys/{provider}` is the
key named `default` (the single-key API that came first). The listing shows each key's weight and
health (ok, cooling, disabled), never a key.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any, Protocol

from aiohttp import web

from sluicegate.allowance import Allowance
from sluicegate.buckets import carry_counters
from sluicegate.endpoints.body import read_body
from sluicegate.endpoints.guard import TOKEN, Guard
from sluicegate.endpoints.query_params import check_params
from sluicegate.endpoints.schemas import (
    AuditList,
    KeyIn,
    KeyList,
    KeyOut,
    KeyUpdate,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenOut,
    TokenUpdate,
    json_response,
    parse_body,
)
from sluicegate.errors import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable, UnknownProvider
from sluicegate.hints import did_you_mean, no_gateway
from sluicegate.keys import DEFAULT_NAME, KeyDirectory, pool_name
from sluicegate.routing.keypool import KEY_NAME_PATTERN, MAX_KEYS, KeyHealth, KeyPools, PoolKey
from sluicegate.routing.state import StateUnavailable
from sluicegate.storage.base import AccessStore, GatewayStore, StoredKey
from sluicegate.times import token_expiry
from sluicegate.tokens import Scope, Token, TokenDirectory, hash_secret, new_token

KEY_NAME = re.compile(KEY_NAME_PATTERN)


class AccessBackend(AccessStore, GatewayStore, Protocol):
    """Access records, and the gateways they name."""


class AccessApi:
    def __init__(
        self,
        database: AccessBackend,
        tokens: TokenDirectory,
        keys: KeyDirectory,
        pools: KeyPools,
        guard: Guard,
        providers: Collection[str],
    ) -> None:
        self._db = database
        self._tokens = tokens
        self._keys = keys
        self._pools = pools
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
        app.router.add_put(keys + "/{provider}/{name}", guard(Scope.ADMIN, self.put_key))
        app.router.add_patch(keys + "/{provider}/{name}", guard(Scope.ADMIN, self.update_key))
        app.router.add_delete(keys + "/{provider}/{name}", guard(Scope.ADMIN, self.delete_key))
        app.router.add_get(account + "/audit", guard(Scope.ADMIN, self.audit))

    async def whoami(self, request: web.Request) -> web.Response:
        return json_response(TokenOut.of(request[TOKEN]))

    async def list_tokens(self, request: web.Request) -> web.Response:
        tokens = await self._db.list_tokens(request.match_info["account"])
        return json_response(TokenList(result=[TokenOut.of(t) for t in tokens]))

    async def create_token(self, request: web.Request) -> web.Response:
        account = request.match_info["account"]
        body = parse_body(TokenCreate, await read_body(request))
        expires_at = token_expiry(body.expires_at, body.expires_in, self._tokens.now())
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
        # A counter sent with a rule is not taken (buckets.py): two rules sharing one would mix.
        token = token.model_copy(update={**body.allowance(), "rules": carry_counters((), body.rules)})
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
        current = await self._db.token_by_id(account, token_id)
        if current is None or current.revoked_at is not None:
            raise NotFound(f"no active token {token_id!r} in account {account!r}")
        changes = {
            name: getattr(body, name) for name in body.model_fields_set if name in Allowance.model_fields
        }
        if body.name is not None:
            changes["name"] = body.name
        if "rules" in changes:  # each rule kept counts on where it stood (buckets.py)
            changes["rules"] = carry_counters(current.rules, changes["rules"])
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
        account, gateway = request.match_info["account"], request.match_info["gateway"]
        stored = await self.stored_keys(account, gateway)
        listed = []
        for provider in sorted({key.provider for key in stored}):
            keys = [key for key in stored if key.provider == provider]
            health = await self._health(account, gateway, provider, [key.name for key in keys])
            listed += [KeyOut.of(key, *([health[key.name]] if key.name in health else [])) for key in keys]
        return json_response(KeyList(result=listed))

    async def put_key(self, request: web.Request) -> web.Response:
        account, gateway = request.match_info["account"], request.match_info["gateway"]
        body = parse_body(KeyIn, await read_body(request))
        name = _key_name(request.match_info.get("name", DEFAULT_NAME))
        provider = request.match_info["provider"]
        stored = await self.store_key(request, account, gateway, provider, body.key, name, body.weight)
        return json_response(KeyOut.of(stored), status=201)

    async def update_key(self, request: web.Request) -> web.Response:
        account, gateway = await self._gateway(request)
        provider, name = request.match_info["provider"], request.match_info["name"]
        body = parse_body(KeyUpdate, await read_body(request))
        found = [(k, sealed) for k, sealed in await self._keys.listed(account, gateway)
                 if k.provider == provider and k.name == name]  # fmt: skip
        if not found:
            raise NotFound(await self._no_key(account, gateway, provider, name))
        key, sealed = found[0]
        if body.weight is not None and body.weight != key.weight:
            key = replace(key, weight=body.weight)
            await self._db.put_provider_key(key, sealed)
            self._keys.forget(account, gateway)
        pool = pool_name(account, gateway, provider)
        if body.enabled is True:
            await self._pools.enable(pool, name)
        elif body.enabled is False:
            await self._pools.disable(pool, name, "disabled through the admin API")
        await self._guard.audit(
            request, "provider_key.update", f"{gateway}/{provider}/{name}",
            **body.model_dump(exclude_none=True),
        )  # fmt: skip
        health = await self._health(account, gateway, provider, [name])
        return json_response(KeyOut.of(key, *([health[name]] if name in health else [])))

    async def delete_key(self, request: web.Request) -> web.Response:
        account, gateway = await self._gateway(request)
        provider = request.match_info["provider"]
        name = request.match_info.get("name", DEFAULT_NAME)
        if not await self._db.delete_provider_key(account, gateway, provider, name):
            raise NotFound(await self._no_key(account, gateway, provider, name))
        self._keys.forget(account, gateway)
        # Forget its health; if that fails, a key stored again under this name is enabled then anyway.
        with contextlib.suppress(StateUnavailable):
            await self._pools.enable(pool_name(account, gateway, provider), name)
        await self._guard.audit(request, "provider_key.delete", f"{gateway}/{provider}/{name}")
        return web.Response(status=204)

    async def _no_key(self, account: str, gateway: str, provider: str, name: str) -> str:
        """Says which keys the provider has, so a wrong name (or the default one) is easy to fix."""
        names = [k.name for k, _ in await self._db.provider_keys(account, gateway) if k.provider == provider]
        if not names:
            return f"no stored key for {provider!r} in gateway {gateway!r}"
        return (
            f"no stored {provider} key named {name!r} in gateway {gateway!r}{did_you_mean(name, names)}"
            f" (one is removed with DELETE …/provider-keys/{provider}/<name>)"
        )

    async def _health(
        self, account: str, gateway: str, provider: str, names: Sequence[str]
    ) -> dict[str, KeyHealth]:
        """The keys' health in the shared state; none (shown as ok) when it cannot be read."""
        try:
            return await self._pools.health(
                pool_name(account, gateway, provider), [PoolKey(name=name) for name in names]
            )
        except StateUnavailable:
            return {}

    # The operations behind the key routes, also called by the Cloudflare-compatible API (`cfapi`).

    async def stored_keys(self, account: str, gateway: str) -> list[StoredKey]:
        """The gateway's stored provider keys: fingerprints only, never a key."""
        await self._exists(account, gateway)
        return [key for key, _ in await self._keys.listed(account, gateway)]

    async def store_key(
        self,
        request: web.Request,
        account: str,
        gateway: str,
        provider: str,
        key: str,
        name: str = DEFAULT_NAME,
        weight: float | None = None,
    ) -> StoredKey:
        """Seal and store `key` as the gateway's key `name` for `provider`, replacing one stored
        under that name before (keeping its weight unless `weight` is given); it starts enabled."""
        await self._exists(account, gateway)
        if provider not in self._providers:
            raise UnknownProvider(
                f"unknown provider {provider!r}{did_you_mean(provider, self._providers)}",
                providers=self._providers,
            )
        pool = [k for k in await self.stored_keys(account, gateway) if k.provider == provider]
        before = next((k for k in pool if k.name == name), None)
        if before is None and len(pool) >= MAX_KEYS:
            raise Conflict(
                f"{provider} already has {MAX_KEYS} stored keys in gateway {gateway!r}, the most a pool holds"
            )
        if weight is None:
            weight = before.weight if before is not None else 1.0
        stored = await self._keys.store(account, gateway, provider, key, name, weight)
        try:
            await self._pools.enable(pool_name(account, gateway, provider), name)
        except StateUnavailable as exc:
            raise ServiceUnavailable(f"the key is stored, but its state could not be reset: {exc}") from exc
        await self._guard.audit(
            request, "provider_key.put", f"{gateway}/{provider}/{name}", fingerprint=stored.fingerprint,
            weight=weight,
        )  # fmt: skip
        return stored

    async def audit(self, request: web.Request) -> web.Response:
        check_params(request.query, ("limit",))
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
        "rules": [rule.shown() for rule in token.rules] or None,
        "models": token.models,
        "providers": token.providers,
        "metadata": token.metadata or None,
    }


def _key_name(name: str) -> str:
    """A 400 for a key name the pool cannot hold, saying what it can."""
    if not KEY_NAME.fullmatch(name):
        raise BadRequest(
            f"key name {name!r}: 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit",
            field="name",
        )
    return name
