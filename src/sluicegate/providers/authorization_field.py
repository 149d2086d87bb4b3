"""A universal step's `authorization` field as the header its provider takes it in.

Cloudflare documents the field as "the content of the authentication HTTP header to use when
contacting this provider; usually starts with 'Token' or 'Bearer'". A provider whose key header holds
the bare key (Anthropic's `x-api-key`) gets the key without its scheme, unless the provider also
takes `Authorization: Bearer` (`KeyOrBearer`): then a bearer token is not a key and goes as it came.
"""

from __future__ import annotations

from dataclasses import dataclass

from sluicegate.providers.base import KeyHeader

_SCHEMES = ("bearer", "token")


@dataclass(frozen=True, slots=True)
class KeyOrBearer(KeyHeader):
    """A header of the bare key whose provider also takes `Authorization: Bearer <token>` for other
    credentials (Azure OpenAI's Microsoft Entra ID tokens)."""


def authorization_header(key_header: KeyHeader, authorization: str) -> tuple[str, str]:
    """The header name and value a step's `authorization` goes upstream as."""
    scheme, _, credential = authorization.partition(" ")
    scheme, credential = scheme.lower(), credential.strip()
    if key_header.template != "{key}" or scheme not in _SCHEMES or not credential:
        return key_header.name, authorization
    if scheme == "bearer" and isinstance(key_header, KeyOrBearer):
        return "Authorization", authorization
    return key_header.name, credential
