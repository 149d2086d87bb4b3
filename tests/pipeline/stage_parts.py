"""What stage tests share: a real store on disk, an Exchange as the endpoint builds it, and a
`call_next` that records what reached it (so a test sees whether a stage let a request through).
No HTTP server: each stage is called directly."""

from __future__ import annotations

import time

from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.exchange import Exchange, IncomingRequest, Reply
from sluicegate.gateway import Gateway, GatewaySettings
from sluicegate.providers.base import Route
from sluicegate.storage.sqlite import SqliteDatabase
from sluicegate.tokens import Scope, Token, hash_secret, new_secret

ACCOUNT = "local"
SLUG = "main"


def make_exchange(
    path: str = "chat/completions",
    *,
    provider: str = "openai",
    body: bytes = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}',
    headers: dict[str, str] | None = None,
    gateway: Gateway | None = None,
    slug: str = SLUG,
    kind: str = "provider",
) -> Exchange:
    """An Exchange as the provider endpoint hands it to the first stage (plus `gateway`, when a test
    starts after Resolve)."""

    async def read_body() -> bytes:
        return body

    request = IncomingRequest(
        gateway_slug=slug,
        provider_name=provider,
        route=Route(ACCOUNT, path),
        method="POST",
        headers=CIMultiDictProxy(CIMultiDict(headers or {})),
        read_body=read_body,
        kind=kind,
    )
    return Exchange(request, gateway=gateway)


def make_gateway(settings: GatewaySettings | None = None, slug: str = SLUG) -> Gateway:
    return Gateway(
        account=ACCOUNT, slug=slug, name=slug, settings=settings or GatewaySettings(), created_at=0
    )


class Downstream:
    """A `call_next` that records the exchanges that reached it and answers `reply`."""

    def __init__(self, status: int = 200) -> None:
        self.seen: list[Exchange] = []
        self.status = status

    async def __call__(self, exchange: Exchange) -> Reply:
        self.seen.append(exchange)
        return Reply(self.status, CIMultiDict({"Content-Type": "application/json"}), body=b"{}")


async def stored_token(
    database: SqliteDatabase,
    *scopes: Scope,
    gateways: tuple[str, ...] | None = None,
    account: str = ACCOUNT,
    **allowance: object,
) -> tuple[str, Token]:
    """A token stored as the admin API stores one: its secret and the token."""
    secret = new_secret()
    token = Token.model_validate(
        {
            "id": secret[-8:],
            "account": account,
            "name": "test",
            "scopes": scopes,
            "gateways": gateways,
            "created_at": time.time(),
            "hint": secret[:7],
            **allowance,
        }
    )
    await database.create_token(token, hash_secret(secret))
    return secret, token
