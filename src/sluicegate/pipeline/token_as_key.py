"""A gateway token sent where a provider's key goes, as Cloudflare's BYOK and dynamic-routing
examples put it (an SDK's `api_key`): a credential header, a browser's realtime subprotocol, or a
key query parameter (Google's `?key=`). A value with the token prefix is never a provider's key, so
`presented_token` reads it as the gateway token and `drop_tokens` takes it out of what goes
upstream. Both read the same places the same way (every value of a header, the query decoded,
names in any case), so nothing read as the token can still be sent on.

A browser's realtime WebSocket may also carry the gateway token in Cloudflare's own subprotocol,
`cf-aig-authorization.<token>` (https://developers.cloudflare.com/ai-gateway/usage/websockets-api/realtime-api/):
`protocol_token` reads it as the `cf-aig-authorization` header is read (whatever its value), and
`drop_tokens` takes every such subprotocol out, a gateway's credential for no provider.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.providers import CREDENTIAL_HEADERS, KEY_PARAMS
from sluicegate.tokens import TOKEN_PREFIX

# A browser's own key for a realtime WebSocket, in its subprotocols (it cannot set headers):
# https://platform.openai.com/docs/guides/realtime-websocket
OWN_KEY_PROTOCOL = "openai-insecure-api-key."
# Cloudflare's browser form of the `cf-aig-authorization` header, for the gateway's own token.
TOKEN_PROTOCOL = "cf-aig-authorization."
PROTOCOLS = "Sec-WebSocket-Protocol"


def presented_token(headers: CIMultiDictProxy[str] | CIMultiDict[str], query: str) -> str | None:
    """The gateway token in a place a provider's key goes, or None."""
    for name in CREDENTIAL_HEADERS:
        for value in headers.getall(name, ()):
            if is_gateway_token(value):
                return unbearer(value)
    for protocol in offered_protocols(headers):
        if _is_key_protocol(protocol):
            return protocol[len(OWN_KEY_PROTOCOL) :]
    if _may_hold_token(query):
        for pair in query.split("&"):
            if _is_token_param(pair):
                return parse_qsl(pair, keep_blank_values=True)[0][1].strip()
    return None


def drop_tokens(headers: CIMultiDict[str], query: str) -> str:
    """Takes every gateway token out of `headers` (other values of the same header stay) and returns
    `query` without the parameters that carry one."""
    for name in CREDENTIAL_HEADERS:
        values = headers.getall(name, ())
        if any(is_gateway_token(value) for value in values):
            del headers[name]
            headers.extend((name, value) for value in values if not is_gateway_token(value))
    offered = offered_protocols(headers)
    if any(_is_token_protocol(p) for p in offered):
        kept = [p for p in offered if p and not _is_token_protocol(p)]
        del headers[PROTOCOLS]
        if kept:
            headers[PROTOCOLS] = ", ".join(kept)
    if _may_hold_token(query):
        query = "&".join(pair for pair in query.split("&") if not _is_token_param(pair))
    return query


def is_gateway_token(value: str) -> bool:
    """Whether a credential's value is one of this gateway's tokens (by its prefix), not a provider key."""
    return unbearer(value).startswith(TOKEN_PREFIX)


def unbearer(value: str) -> str:
    scheme, _, rest = value.strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest else value.strip()


def protocol_token(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> str | None:
    """The gateway token in a `cf-aig-authorization.<token>` subprotocol, or None."""
    for protocol in offered_protocols(headers):
        if protocol.startswith(TOKEN_PROTOCOL) and len(protocol) > len(TOKEN_PROTOCOL):
            return protocol[len(TOKEN_PROTOCOL) :]
    return None


def carries_credential(protocol: str) -> bool:
    """Whether a subprotocol holds a secret: the gateway token's or a browser's own key."""
    return protocol.startswith((TOKEN_PROTOCOL, OWN_KEY_PROTOCOL))


def offered_protocols(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> list[str]:
    """The subprotocols a WebSocket handshake offers, in its order."""
    return [p.strip() for line in headers.getall(PROTOCOLS, ()) for p in line.split(",")]


def _is_key_protocol(protocol: str) -> bool:
    return protocol.startswith(OWN_KEY_PROTOCOL) and protocol[len(OWN_KEY_PROTOCOL) :].startswith(
        TOKEN_PREFIX
    )


def _is_token_protocol(protocol: str) -> bool:
    """A subprotocol with the gateway token in it, never sent upstream."""
    return protocol.startswith(TOKEN_PROTOCOL) or _is_key_protocol(protocol)


def _may_hold_token(query: str) -> bool:
    # Most requests have no query or a plain one (Azure's api-version): no parsing for them.
    return bool(query) and (TOKEN_PREFIX in query or "%" in query)


def _is_token_param(pair: str) -> bool:
    parsed = parse_qsl(pair, keep_blank_values=True)
    return bool(parsed) and parsed[0][0].lower() in KEY_PARAMS and is_gateway_token(parsed[0][1])
