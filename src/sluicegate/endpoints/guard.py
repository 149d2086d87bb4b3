"""Who may call the admin API: every route but the schema needs a token with the route's scope.

`Authorization: Bearer <token>`; no token or a bad one is a 401, a token of another account,
without the scope, or limited to other gateways is a 403.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sluicegate.errors import Forbidden, Unauthorized
from sluicegate.storage.base import AccessStore, AuditEntry
from sluicegate.tokens import Scope, Token, TokenDirectory

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN = web.RequestKey("sluicegate_token", Token)


class Guard:
    def __init__(self, tokens: TokenDirectory, store: AccessStore) -> None:
        self._tokens = tokens
        self._store = store

    def __call__(self, scope: Scope | None, handler: Handler) -> Handler:
        """`handler`, callable only with a token holding `scope` (None: any valid token)."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            token = await self._authenticate(request)
            account, gateway = request.match_info.get("account"), request.match_info.get("gateway")
            if account is not None and token.account != account:
                raise Forbidden(f"this token belongs to another account than {account!r}")
            if scope is not None and not token.allows(scope, gateway):
                where = f" for gateway {gateway!r}" if gateway else ""
                raise Forbidden(f"this token lacks the {scope.value!r} scope{where}", scope=scope.value)
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
