"""What a host in an account's custom provider means, and which addresses no account may reach.

A custom provider's `base_url` is chosen by an account's admin, not by the operator, so it must not
turn the gateway into a way into the operator's network (SSRF). A host is read here as the HTTP
client and the resolver would read it: `inet_aton`'s numeric forms (`0x7f000001`, `2130706433`,
`127.1`, `0177.0.0.1`, as WHATWG's URL standard also takes them), a trailing dot, any case, IPv6
with an IPv4 address inside (mapped, compatible, NAT64, 6to4); and `non_public` names the range
an address falls in (loopback, private, link-local, CGNAT, multicast, reserved, …). The check when
a provider is stored (`hosts.base_url_problem`) and the one when the gateway connects
(`upstream_guard.py`, for the names that resolve to such an address) share them.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

Address = IPv4Address | IPv6Address
ALLOWED_HOSTS_SETTING = "SLUICEGATE_ALLOWED_HOSTS"  # where the operator opens hosts

# IANA's special-purpose registries: every IPv4 range that is not the public internet.
_IPV4: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(network), kind)
    for network, kind in (
        ("0.0.0.0/8", "unspecified"),  # "this network": 0.0.0.0 reaches the local host on Linux
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),  # cloud metadata services live here
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "reserved"),  # benchmarking
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),  # the broadcast address too
    )
)
# IPv6: only global unicast (2000::/3) is public, less these; an IPv4 address inside one of the
# forms below is judged as that IPv4 address.
_IPV6: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(network), kind)
    for network, kind in (
        ("2001:db8::/32", "documentation"),
        ("2001::/23", "reserved"),  # IETF protocol assignments, Teredo among them
        ("3fff::/20", "documentation"),
        ("fc00::/7", "private (unique local)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "private (site-local)"),
        ("ff00::/8", "multicast"),
    )
)
_GLOBAL_UNICAST = IPv6Network("2000::/3")
_NAT64 = IPv6Network("64:ff9b::/96")
_COMPATIBLE = IPv6Network("::/96")  # deprecated IPv4-compatible addresses (::127.0.0.1)
_HEX = frozenset(string.hexdigits)


def non_public(address: Address) -> str | None:
    """What kind of address `address` is when it is not on the public internet ("loopback",
    "private", "link-local", …), None when it is."""
    if isinstance(address, IPv6Address):
        address = IPv6Address(int(address))  # without a scope (fe80::1%eth0): the range is the same
        embedded = embedded_ipv4(address)
        if embedded is not None:
            return non_public(embedded)
        if address == IPv6Address("::1"):
            return "loopback"
        if address == IPv6Address(0):
            return "unspecified"
        for network6, kind in _IPV6:
            if address in network6:
                return kind
        return None if address in _GLOBAL_UNICAST else "reserved"
    for network4, kind in _IPV4:
        if address in network4:
            return kind
    return None


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 one carries and reaches: mapped (::ffff:a.b.c.d), NAT64
    (64:ff9b::a.b.c.d), 6to4 (2002:AABB:CCDD::) or compatible (::a.b.c.d, but :: and ::1)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def literal_address(host: str) -> Address | None:
    """The address `host` (a URL's host without its port; IPv6 in brackets or not) means without a
    lookup, read as the resolver reads it; None for a name. Raises ValueError for a host that ends
    in a number but is no address (`1.2.3.4.5`, `09.1.1.1`): no name ends so."""
    host = host.lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        return ip_address(host)  # (ValueError when it is none: no name holds a colon)
    labels = host.removesuffix(".").split(".")
    if not _numeric(labels[-1]):
        return None
    if len(labels) > 4:
        raise ValueError(f"{host!r} is no IPv4 address")
    numbers = [_number(label) for label in labels]
    last = numbers.pop()
    if any(n > 255 for n in numbers) or last >= 256 ** (4 - len(numbers)):
        raise ValueError(f"{host!r} is no IPv4 address: a part is too large")
    value = last
    for index, number in enumerate(numbers):
        value += number << (8 * (3 - index))
    return IPv4Address(value)


def _numeric(label: str) -> bool:
    """Whether a label is a number as `inet_aton` reads one (WHATWG's "ends in a number")."""
    if label.isdigit() and label.isascii():
        return True
    return label[:2] == "0x" and all(c in _HEX for c in label[2:])


def _number(label: str) -> int:
    """One part of a numeric IPv4 host: hex (0x…), octal (a leading 0) or decimal."""
    try:
        if label[:2] == "0x":
            return int(label[2:] or "0", 16)
        if len(label) > 1 and label[0] == "0":
            return int(label, 8)
        return int(label, 10)
    except ValueError:
        raise ValueError(f"{label!r} is no number") from None


def is_local_name(host: str) -> bool:
    """`localhost` and the names below it, which resolvers answer with the loopback address
    (RFC 6761 §6.3), in any case and with a trailing dot."""
    name = host.lower().removesuffix(".")
    return name == "localhost" or name.endswith(".localhost")


def canonical_host(host: str) -> str:
    """A host as the resolver looks it up: lower case, no trailing dot, no brackets."""
    host = host.lower()
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host.removesuffix(".")


def split_netloc(netloc: str) -> tuple[str, int | None]:
    """`host[:port]` (IPv6 in brackets) as its host and its port (None when it names none). A
    port that is no number is a ValueError."""
    if netloc.startswith("["):
        host, _, rest = netloc.partition("]")
        host, port = host + "]", rest.removeprefix(":") if rest else ""
    else:
        host, _, port = netloc.partition(":")
    if not port:
        return host, None
    if not (port.isdigit() and port.isascii() and int(port) <= 65535):
        raise ValueError(f"{port!r} is no port")
    return host, int(port)


def opened_netlocs(allowed_hosts: Iterable[str]) -> frozenset[tuple[str, int]]:
    """What the operator opened by listing hosts in `allowed_hosts`, as (canonical host, port): a
    host listed without a port is opened on 80 and 443 (plain http and https)."""
    opened: set[tuple[str, int]] = set()
    for entry in allowed_hosts:
        try:
            host, port = split_netloc(entry.strip().lower())
        except ValueError:
            continue  # no host an account's URL can name
        ports = (80, 443) if port is None else (port,)
        opened.update((canonical_host(host), each) for each in ports)
    return frozenset(opened)
