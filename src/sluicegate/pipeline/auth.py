"""Authenticate: who sends a proxy request, checked before its body is even read.

A gateway token travels in `cf-aig-authorization: Bearer …` (Cloudflare), `Fastly-Key` (Fastly) or
`x-sluicegate-token`; failing those, in the header (or Google's `?key=`) where the provider's key
goes, as Cloudflare's BYOK and dynamic-routing examples put it (an SDK's `api_key`; see
token_as_key.py): a value with the token prefix is never a provider's key, so it is read as the
token and never sent upstream. A browser's realtime WebSocket may send it as Cloudflare's
`cf-aig-authorization.<token>` subprotocol. Gateways with `authentication` on refuse requests
without a `run` token; open gateways accept them, and still check a token that is sent (so
per-token limits hold). But an open gateway passes over a value in a token header that is not of
the token format (`sg_…`) and names no stored token, as if it had not been sent: Cloudflare's open
gateways accept any `cf-aig-authorization` (its "Expected behavior" table), and apps that move
from an authenticated Cloudflare gateway keep sending their Cloudflare API token there.
A token's own metadata (`Allowance.metadata`) is merged into the request's here, its values first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.errors import Forbidden, Unauthorized
from sluicegate.exchange import Exchange, Reply
from sluicegate.gateway import DEFAULT_ACCOUNT, Gateway
from sluicegate.pipeline import Handler
from sluicegate.pipeline.token_as_key import (
    TOKEN_PROTOCOL,
    is_gateway_token,
    presented_token,
    protocol_token,
    unbearer,
)
from sluicegate.reserved import RESERVED_METADATA_KEYS
from sluicegate.tokens import Scope, Token, TokenDirectory

_log = logging.getLogger(__name__)
TOKEN_HEADERS = ("cf-aig-authorization", "fastly-key", "x-sluicegate-token")
Headers = CIMultiDictProxy[str] | CIMultiDict[str]


def presented_secrets(headers: Headers, query: str = "") -> Iterator[tuple[str, str]]:
    """Where and what each value a request presents as the gateway token is, first the one that
    counts: the token headers, Cloudflare's browser subprotocol, then where a provider key goes."""
    for name in TOKEN_HEADERS:
        for value in headers.getall(name, ()):
            if value:
                yield name, unbearer(value)
    in_protocol = protocol_token(headers)
    if in_protocol is not None:
        yield f"{TOKEN_PROTOCOL}… subprotocol", in_protocol
    own = presented_token(headers, query)
    if own is not None:
        yield "provider key", own


async def find_token(
    tokens: TokenDirectory, headers: Headers, query: str, open_gateway: bool
) -> tuple[str | None, Token | None]:
    """The secret a request presents as its gateway token (None for none) and the active token it
    names (None for none). For an `open_gateway`, a value that is not of the token format and names
    no token (a Cloudflare or Fastly API token) is passed over as if not sent; a value of the
    format that names no active token still counts, to be refused: it was meant for this gateway,
    and its client should learn it is revoked or expired rather than run on without it.

    A second value of the token format, passed over by that order, must name an active token
    too: a revoked one beside a valid one must not go unnoticed (`Unauthorized` naming where)."""
    chosen: tuple[str, str, Token | None] | None = None
    for where, secret in presented_secrets(headers, query):
        if chosen is not None:
            if secret != chosen[1] and is_gateway_token(secret) and await tokens.check(secret) is None:
                raise Unauthorized(f"the gateway token in {where} is invalid, expired or revoked")
            continue
        token = await tokens.check(secret)
        if token is not None or not open_gateway or is_gateway_token(secret):
            chosen = where, secret, token
            continue
        # Only where it was: the value may well be a live credential of another service.
        _log.debug("an open gateway ignores the value in %s: not a Sluicegate token", where)
    return (chosen[1], chosen[2]) if chosen is not None else (None, None)


class Authenticate:
    def __init__(self, tokens: TokenDirectory) -> None:
        self._tokens = tokens

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        gateway = exchange.gateway
        assert gateway is not None, "Resolve runs before Authenticate"
        request = exchange.request
        open_gateway = not gateway.settings.authentication
        secret, found = await find_token(self._tokens, request.headers, request.route.query, open_gateway)
        token = authorized(secret is not None, found, request.account, gateway)
        if token is not None:
            exchange.token = token
            if token.metadata:
                # The token's entries win: a client must not escape its team's budget by naming another.
                # (Without the keys the gateway writes itself, which a token stored before they
                # were refused may still hold: tokens created now cannot.)
                own = {
                    key: value for key, value in token.metadata.items() if key not in RESERVED_METADATA_KEYS
                }
                exchange.options.metadata = {**exchange.options.metadata, **own}
        return await call_next(exchange)


def authorized(presented: bool, token: Token | None, account: str, gateway: Gateway) -> Token | None:
    """The token a request to `gateway` of `account` runs as: `token`, the valid one its secret
    names when it `presented` one, or None when it presented none to a gateway that asks for none.
    Raises `Unauthorized` (no token where one is required, or an unknown one) or `Forbidden`."""
    if not presented:
        if gateway.settings.authentication:
            raise Unauthorized(
                f"gateway {gateway.slug!r} requires a token with the run scope in one of "
                f"{', '.join(TOKEN_HEADERS)}"
            )
        return None
    if token is None:
        raise Unauthorized("the gateway token is invalid, expired or revoked")
    refused = f"this token may not send requests through gateway {gateway.slug!r}"
    if token.account != account:
        raise Forbidden(f"{refused}: it belongs to another account than {account!r}")
    if not token.holds(Scope.RUN):
        raise Forbidden(f"{refused}: {_lacks_run(token, account, gateway.slug)}", scope=Scope.RUN.value)
    if not token.reaches(gateway.slug):
        raise Forbidden(f"{refused}: {token.limits()}", token_gateways=token.gateways)
    return token


def _lacks_run(token: Token, account: str, slug: str) -> str:
    """Why a token without `run` is refused, and how to make one that has it: Fastly's docs have
    users create a read-only token for `Fastly-Key`, which here only reads logs and analytics."""
    account_option = "" if account == DEFAULT_ACCOUNT else f" --account {account}"
    scopes = ", ".join(repr(scope.value) for scope in token.scopes)
    return (
        f"it has the scopes {scopes} but not 'run', which requests through a gateway need"
        " (in cf-aig-authorization, Fastly-Key, x-sluicegate-token, or where the provider's key"
        " goes). Create one with `sluicegate token create --scope run --name NAME"
        f" --gateway {slug}{account_option}`, or POST /api/v1/accounts/{account}/tokens"
        ' {"name": "NAME", "scopes": ["run"]} with an admin token'
    )
