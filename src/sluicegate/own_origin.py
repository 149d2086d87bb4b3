"""The gateway's origin as its client reached it (`https://gateway.example`), for the absolute URLs
of its own that it hands out (Cloudflare's API's endpoint URL, an Anthropic batch's `results_url`).

The request's `Host`, or what a proxy in front says the client used: `X-Forwarded-Host` and
`X-Forwarded-Proto` (their first value, as the proxy nearest the client wrote it). The gateway
serves plain HTTP itself, so a TLS-terminating proxy must say `https`. These headers shape only the
URLs in the answer to the request that carries them, so they need no list of trusted proxies: a
client that forges them misleads itself alone. A value that is no host (a path, a user, spaces) is
ignored, so a URL handed out is always this origin's form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

FORWARDED_HOST = "X-Forwarded-Host"
FORWARDED_PROTO = "X-Forwarded-Proto"
_SCHEMES = frozenset({"http", "https"})
# A host name or IPv4 address, or a bracketed IPv6 one, and an optional port: nothing else.
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]{1,5})?")


def gateway_origin(headers: Mapping[str, str], scheme: str = "http") -> str | None:
    """`{scheme}://{host}` as the client reached the gateway; None without a usable host."""
    host = _first(headers.get(FORWARDED_HOST))
    if host is None or not _HOST.fullmatch(host):
        host = headers.get("Host", "").strip()
        if not _HOST.fullmatch(host):
            return None
    proto = (_first(headers.get(FORWARDED_PROTO)) or "").lower()
    return f"{proto if proto in _SCHEMES else scheme}://{host}"


def _first(value: str | None) -> str | None:
    """A forwarded header's first entry (each proxy on the way appends its own)."""
    return value.partition(",")[0].strip() if value else None
