"""Who may call the admin API: every route but the schema needs a token with the route's scope.

`Authorization: Bearer <token>`; no token or a bad one is a 401. A token of another account or
without the scope is a 403, and so is a token limited to some gateways (`gateways` not null)
that reaches past them. Each route acts on one of:

- the gateway named in its path (`{gateway}`): a limited token must list it;
- the token's own gateways (`narrowed=True`): the handler narrows what it lists, counts or
  purges to them, so any token may call it (listing gateways, analytics, purge-all, `whoami`,
  and creating tokens, which `Token.overreach` keeps within the creator's powers);
- the whole account (every other route: tokens, gateway creation, the audit trail): only an
  unlimited token. New routes fall here unless they say otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sluicegate.errors import Forbidden, Unauthorized
from sluicegate.storage.base import AuditEntry, AuditTrail
from sluicegate.tokens import Scope, Token, TokenDirectory

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN = web.RequestKey("sluicegate_token", Token)


class Guard:
    def __init__(self, tokens: TokenDirectory, store: AuditTrail) -> None:
        self._tokens = tokens
        self._store = store

    def __call__(self, scope: Scope | None, handler: Handler, *, narrowed: bool = False) -> Handler:
        """`handler`, callable only with a token holding `scope` (None: any valid token) that
        reaches what the route acts on (see the module's docstring)."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            token = await self._authenticate(request)
            account, gateway = request.match_info.get("account"), request.match_info.get("gateway")
            if account is not None and token.account != account:
                raise Forbidden(f"this token belongs to another account than {account!r}")
            if scope is not None and not token.holds(scope):
                raise Forbidden(f"this token lacks the {scope.value!r} scope", scope=scope.value)
            if gateway is not None and not token.reaches(gateway):
                raise Forbidden(f"{token.limits()}, not {gateway!r}", token_gateways=token.gateways)
            if gateway is None and not narrowed and token.gateways is not None:
                raise Forbidden(
                    f"this route acts on the whole account and needs a token not limited to gateways;"
                    f" {token.limits()}",
                    token_gateways=token.gateways,
                )
            request[TOKEN] = token
            return await handler(request)

        return guarded

    async def _authenticate(self, request: web.Request) -> Token:
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" and request.headers.get("Fastly-Key"):
            scheme, secret = "bearer", request.headers["Fastly-Key"]  # Fastly AI Accelerator's header
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("the admin API needs `Authorization: Bearer <token>` (or `Fastly-Key`)")
        token = await self._tokens.check(secret.strip())
        if token is None:
            raise Unauthorized("the token is invalid, expired or revoked")
        return token

    async def audit(self, request: web.Request, action: str, target: str, **details: Any) -> None:
        """Record an admin action with who did it and when."""
        token = request[TOKEN]
        await self._store.record_audit(
            AuditEntry(time.time(), token.account, token.id, action, target, details)
        )
