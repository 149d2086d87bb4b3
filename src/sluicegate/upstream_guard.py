"""The check when connecting to a host an account chose (its custom provider's `base_url`): every
address its name resolves to must be public, unless the operator opened the host.

The check when a provider is stored (`hosts.base_url_problem`) refuses IP addresses and
`localhost` written in any form, but a name is only an address once it is resolved, and may
resolve elsewhere later (DNS rebinding). So the connection pool that reaches account hosts
(`Upstream`, its second session) resolves through `GuardedResolver`, and the addresses it
connects to are the ones checked here, not a lookup of their own. The pool of the built-in
providers keeps aiohttp's resolver: no request to them looks anything up here.

A refused address is refused before any connection is tried, so the answer (403) is the same
whether anything listens there or not, and names no address.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from ipaddress import ip_address

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from sluicegate.addresses import ALLOWED_HOSTS_SETTING, canonical_host, non_public, opened_netlocs
from sluicegate.errors import Forbidden


class NonPublicAddress(Forbidden):
    """An account's custom provider whose host resolves to an address that is not public."""

    code = "upstream_address_refused"


class AddressRefused(OSError):
    """The resolver's refusal: aiohttp hands an OSError from a resolver on, wrapped in its
    connector error, where `Upstream` finds it and answers `refusal()`."""

    def __init__(self, host: str) -> None:
        super().__init__(f"{host!r} resolves to an address that is not public")
        self.host = host

    def refusal(self) -> NonPublicAddress:
        name = canonical_host(self.host)
        return NonPublicAddress(
            f"the custom provider's host {name!r} resolves to an address that is not public"
            " (loopback, private, link-local, shared, multicast or reserved), which an account's"
            f" custom provider may not reach; nothing was sent to it. The operator can open the host"
            f" by listing it in {ALLOWED_HOSTS_SETTING}",
            setting=ALLOWED_HOSTS_SETTING,
        )


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing a name that resolves to any non-public address, unless its
    host and port are opened (`allowed_hosts`). The connector caches what it returns (its
    `ttl_dns_cache`), so a name is checked each time it is looked up again, never once for all."""

    def __init__(self, allowed_hosts: Iterable[str], inner: AbstractResolver | None = None) -> None:
        self._opened = opened_netlocs(allowed_hosts)
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if (canonical_host(host), port) in self._opened:
            return found
        # Any such address refuses the name: a client may try each of them in turn.
        if any(non_public(ip_address(result["host"])) is not None for result in found):
            raise AddressRefused(host)
        return found

    async def close(self) -> None:
        await self._inner.close()
