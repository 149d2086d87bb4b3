"""Account-level custom providers: OpenAI-compatible servers an account adds through the API and
reaches as `custom-{slug}` (Cloudflare's naming), e.g. `/v1/{account}/{gateway}/custom-vllm/…`.

A custom provider is stored per account. Its `headers` are sent upstream with every request and
may hold credentials, so they are sealed under the master key like stored provider keys
(`keys.py`); only their names ever leave storage. On the request path the account's providers
are read through a cache (`CustomProviderDirectory`), as gateways are: a change made through this
process is seen at once, one made through another replica within `ttl` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

import orjson

from sluicegate.hosts import base_url_problem
from sluicegate.keys import KeyVault
from sluicegate.providers.base import Provider
from sluicegate.providers.openai import OpenAICompatible
from sluicegate.readthrough import READ_TIMEOUT, ReadThrough
from sluicegate.storage.base import CUSTOM_PREFIX, CustomProvider, CustomProviderStore
from sluicegate.upstream_headers import header_problem, is_never_forwarded

MAX_HEADERS_TEXT = 8192  # Cloudflare's limit on the `headers` JSON text


@dataclass(frozen=True, slots=True)
class AccountProvider(OpenAICompatible):
    """A custom provider as requests use it: OpenAI's API under the stored base URL, with the
    stored `headers` set on every upstream request, unless `refusal` says why it may not be used."""

    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    refusal: str | None = None


def sendable_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """`headers` if each can be sent upstream as extra headers, else a ValueError naming the header
    (never its value: it may be a key)."""
    for name, value in headers.items():
        if (problem := header_problem(name, value)) is not None:
            raise ValueError(problem)
        if is_never_forwarded(name):
            raise ValueError(f"{name!r} is the gateway's own or set by it; it cannot be stored")
    if len(orjson.dumps(headers)) > MAX_HEADERS_TEXT:
        raise ValueError(f"the headers take more than {MAX_HEADERS_TEXT} bytes as JSON")
    return dict(headers)


def seal_headers(vault: KeyVault, headers: Mapping[str, str]) -> bytes | None:
    """The headers sealed for storage (None for none). A 409 when there is no master key."""
    return vault.seal(orjson.dumps(dict(headers)).decode()) if headers else None


def unseal_headers(vault: KeyVault, sealed: bytes | None) -> dict[str, str] | None:
    """The stored headers; None when they were sealed under another master key (or there is none)."""
    if sealed is None:
        return {}
    text = vault.unseal(sealed)
    return None if text is None else dict(orjson.loads(text))


class CustomProviderDirectory:
    """Each account's custom providers as adapters, by `custom-{slug}`, read through a cache."""

    def __init__(
        self,
        store: CustomProviderStore,
        vault: KeyVault,
        allowed_hosts: Collection[str],
        ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self._store = store
        self.vault = vault
        self.allowed_hosts = tuple(allowed_hosts)
        self._entries: ReadThrough[str, dict[str, AccountProvider]] = ReadThrough(
            self._load, ttl, clock, read_timeout
        )

    async def providers(self, account: str) -> Mapping[str, AccountProvider]:
        return await self._entries.get(account)

    def forget(self, account: str) -> None:
        """A change made here: the account's next request reads its providers afresh."""
        self._entries.forget(account)

    async def _load(self, account: str) -> dict[str, AccountProvider]:
        return {
            stored.provider_name: self._adapter(stored, sealed)
            for stored, sealed in await self._store.custom_providers(account)
        }

    def _adapter(self, stored: CustomProvider, sealed: bytes | None) -> AccountProvider:
        headers = unseal_headers(self.vault, sealed)
        refusal = None
        if not stored.enable:
            refusal = (
                f"the custom provider {stored.provider_name!r} is disabled (enable: false);"
                f" enable it through PATCH /api/v1/accounts/{stored.account}/custom-providers/{stored.id}"
                " or Cloudflare's API"
            )
        elif (problem := base_url_problem(stored.base_url, self.allowed_hosts)) is not None:
            refusal = f"the custom provider {stored.provider_name!r} cannot be reached: base_url: {problem}"
        elif headers is None:
            refusal = (
                f"the headers of the custom provider {stored.provider_name!r} were sealed under another"
                " master key (SLUICEGATE_SECRET_KEY); store them again"
            )
        return AccountProvider(
            name=stored.provider_name,
            default_base_url=stored.base_url,
            headers=tuple((headers or {}).items()),
            refusal=refusal,
        )


class ProviderBook:
    """Every provider an account's requests may name: the registry (with the custom providers of
    the configuration) and the account's own `custom-{slug}` ones. Only a `custom-` name that is
    not a registry name is looked up in the account's, so other requests never touch them."""

    def __init__(self, registry: Mapping[str, Provider], accounts: CustomProviderDirectory) -> None:
        self.registry = registry
        self._accounts = accounts

    async def find(self, account: str, name: str) -> Provider | None:
        provider = self.registry.get(name)
        if provider is None and name.startswith(CUSTOM_PREFIX):
            return (await self._accounts.providers(account)).get(name)
        return provider

    async def names(self, account: str) -> list[str]:
        """Every name the account may use (for error messages)."""
        return sorted({*self.registry, *await self._accounts.providers(account)})
