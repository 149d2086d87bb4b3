"""Which gateways an account-wide listing covers (analytics, logs): the one asked for, or all the
token may see. One rule for every such route, so a limited token is narrowed the same way."""

from __future__ import annotations

from sluicegate.errors import Forbidden
from sluicegate.hints import unknown_gateway
from sluicegate.storage.base import GatewayRecords
from sluicegate.tokens import Token


def gateways_to_cover(asked: str | None, token: Token) -> tuple[str, ...] | None:
    """`(asked,)`, a 403 when the token does not reach it; else the token's gateways (None: all)."""
    if asked:
        if not token.reaches(asked):
            raise Forbidden(
                f"{token.limits()}, not {asked!r}", param="gateway", token_gateways=token.gateways
            )
        return (asked,)
    return token.gateways


async def check_gateway(database: GatewayRecords, account: str, slug: str) -> None:
    """A 404 for a gateway that neither exists nor left records (a typo would read as nothing at
    all); a deleted gateway's records stay and can still be listed and counted."""
    if await database.get_gateway(account, slug) is None and not await database.count_logs(account, slug):
        raise unknown_gateway(account, slug, [g.slug for g in await database.list_gateways(account)])
