"""Host-in-path routing: `/{upstream-host}/{path}` and `/compat/openai/{host}/{path}`, as Fastly AI
Accelerator takes them, so a stock SDK works by changing only its base URL.

Never an open proxy: only the known provider hosts and hosts added to `allowed_hosts` are
reachable; IP literals and ports are refused unless a host is configured exactly. (`.` and `..`
path segments are refused for every endpoint alike: `paths.py`, checked by the Plan stage.)
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv6Address, ip_address
from urllib.parse import urlsplit

from sluicegate.addresses import (
    ALLOWED_HOSTS_SETTING,
    canonical_host,
    embedded_ipv4,
    is_local_name,
    literal_address,
    non_public,
    split_netloc,
)
from sluicegate.errors import BadRequest, Forbidden, GatewayError
from sluicegate.providers import REGISTRY
from sluicegate.providers.base import Provider
from sluicegate.providers.openai import OpenAICompatible

_HOST = re.compile(r"^[a-z0-9.-]{1,253}(:\d{1,5})?$")
COMPATIBLE = "openai-compatible"  # how an allowed host no provider claims is logged and priced


@dataclass(frozen=True, slots=True)
class HostTarget:
    """Where a host-in-path request goes: the adapter, the path it sees, and the base URL to use."""

    provider: Provider
    path: str
    base_url: str | None  # None: the adapter's own default


class HostMap:
    """Which provider each host is: every provider says which hosts are its own (`host_route`,
    `compat_host`); hosts in `allowed_hosts` that none claims are OpenAI-compatible servers."""

    def __init__(
        self, providers: Mapping[str, Provider], allowed_hosts: Sequence[str], overrides: Mapping[str, str]
    ) -> None:
        self._providers = tuple(providers.values())
        # `/compat/openai/{host}/…` of a known OpenAI-compatible provider: logged and priced as it.
        self._compatible = {p.compat_host: p.name for p in self._providers if p.compat_host}
        self._allowed = {host.lower() for host in allowed_hosts}
        self._overrides = {host.lower(): url.rstrip("/") for host, url in overrides.items()}

    def target(self, host: str, path: str, compat: bool) -> HostTarget:
        """The target of `/{host}/{path}` (or `/compat/openai/{host}/{path}`); raises 400/403."""
        host = host.lower()
        if not _HOST.match(host):
            raise BadRequest(f"{host!r} is not a host name")
        configured = host in self._allowed
        if not configured and _is_ip_or_port(host):
            raise Forbidden(
                f"{host!r}: IP addresses and ports are only reachable when listed in {ALLOWED_HOSTS_SETTING}",
                setting=ALLOWED_HOSTS_SETTING,
            )
        override = self._overrides.get(host)
        if compat and (configured or host in self._compatible):
            slug = self._compatible.get(host, COMPATIBLE)
            return HostTarget(OpenAICompatible(slug, f"https://{host}"), path, override or f"https://{host}")
        # A built-in provider's own host; in the compat form too, as the bare form takes it (Gemini's
        # OpenAI-compatible endpoint, `/compat/openai/generativelanguage.googleapis.com/v1beta/openai/…`).
        for provider in self._providers:
            if (found := provider.host_route(host, path, override)) is not None:
                return HostTarget(provider, found.path, found.base_url)
        if configured:
            return HostTarget(OpenAICompatible(COMPATIBLE, f"https://{host}"), path, override)
        if host in self._compatible:  # a built-in OpenAI-compatible provider's, in the bare form
            meant = f"/compat/openai/{host}/{path}"
            raise Forbidden(
                f"host {host!r} ({self._compatible[host]}) is reached by host-in-path in Fastly's form for"
                f" OpenAI-compatible servers: {meant}",
                did_you_mean=meant,
            )
        raise self._refused(host)

    @staticmethod
    def _refused(host: str) -> Forbidden:
        return Forbidden(
            f"host {host!r} is not allowed: add it to {ALLOWED_HOSTS_SETTING} to reach it",
            setting=ALLOWED_HOSTS_SETTING,
        )


def known_host(host: str, path: str, compat: bool) -> tuple[str, str] | None:
    """The provider slug and path a host-in-path request to a built-in provider's host goes with
    once planned (`HostMap.target` without its settings: they choose where, not which provider), so
    a request refused before its plan is logged as the answered ones are and log filters on the
    provider find both; None for another host (an `allowed_hosts` one is named as itself then)."""
    host = host.lower()
    claimed = next((p.name for p in REGISTRY.values() if p.compat_host == host), None)
    if compat and claimed is not None:
        return claimed, path
    for provider in REGISTRY.values():
        try:
            found = provider.host_route(host, path, None)
        except GatewayError:  # a path of its host it refuses (Azure's): the host is still its own
            return provider.name, path
        if found is not None:
            return provider.name, found.path
    return None if claimed is None else (claimed, path)  # the bare form of a compat-only host: refused


def base_url_problem(url: str, allowed_hosts: Collection[str]) -> str | None:
    """Why an account's custom provider may not use `url` as its base URL, or None when it may.

    The rule of host-in-path, for a URL an admin of any account may store: https to a host name
    (as Cloudflare requires); plain http, an IP address (in any form the resolver reads: hex,
    octal, decimal, short, IPv6), `localhost` or a port only for a host listed exactly in
    `allowed_hosts` (a private deployment, a local vLLM), so no account can point the gateway at
    private addresses the operator did not open. (A name that resolves to one is refused when
    the gateway connects: upstream_guard.py.)
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) URL such as https://llm.example.com/v1"
    if parts.username is not None or parts.password is not None:
        return "credentials do not belong in the URL, which the API shows: send them in `headers`"
    if parts.query or parts.fragment:
        return "a base URL takes no query or fragment: each request's path is appended to it"
    netloc = parts.netloc.lower()
    try:
        host, port = split_netloc(netloc)
    except ValueError:
        return f"{netloc!r} is not a host and port"
    if (canonical_host(host), port) in {_listed(allowed) for allowed in allowed_hosts}:
        return None
    if parts.scheme != "https":
        return (
            f"plain http is only allowed to a host listed in {ALLOWED_HOSTS_SETTING} ({netloc!r} is not);"
            " use https"
        )
    if (problem := _host_problem(host)) is not None:
        return problem
    if port is not None:
        return f"{netloc!r}: IP addresses and ports are only reachable when listed in {ALLOWED_HOSTS_SETTING}"
    if not _HOST.match(host):
        return f"{host!r} is not a host name (letters, digits, dots and hyphens; IDNs in their xn-- form)"
    return None


def _listed(allowed: str) -> tuple[str, int | None]:
    """An `allowed_hosts` entry as the (canonical host, port) it opens; one that is no host and
    port opens nothing."""
    try:
        host, port = split_netloc(allowed.strip().lower())
    except ValueError:
        return ("", -1)
    return canonical_host(host), port


def _host_problem(host: str) -> str | None:
    """Why `host` (no port) names this machine or an address an account may not choose, saying
    what it means and what the operator can do, or None for a host name."""
    opens = f"only reachable when the operator lists it in {ALLOWED_HOSTS_SETTING}"
    if is_local_name(host):
        return f"{host!r} names the gateway's own machine (a loopback address): it is {opens}"
    try:
        address = literal_address(host)
    except ValueError:
        return f"{host!r} ends in a number but is no IP address: use a host name"
    if address is None:
        return None
    kind = non_public(address) or "public"
    if _is_literal(canonical_host(host)):
        inner = embedded_ipv4(address) if isinstance(address, IPv6Address) else None
        means = f"{host!r} is {_a(kind)} IP address" + (f" (carrying {inner})" if inner else "")
        listed = ""
    else:
        means = f"{host!r} is the {kind} IP address {address} written another way"
        listed = f", and then only as it is listed ({address})"
    return f"{means}: IP addresses and ports are {opens}{listed}"


def _is_literal(host: str) -> bool:
    """Whether `host` is an IP address as written everywhere (dotted quad, IPv6)."""
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _is_ip_or_port(host: str) -> bool:
    """Whether a host-in-path host names an address or a port (in any form the resolver reads),
    which only a listed host may."""
    if ":" in host:
        return True
    try:
        return literal_address(host) is not None
    except ValueError:
        return True
