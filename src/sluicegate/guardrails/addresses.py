"""E-mail and IP addresses. IPs are checked by the `ipaddress` module, so `999.1.1.1`, times
(`12:30:45`) and MAC addresses pass; a dotted run longer than four parts is a version, not an IP.

An IP address that identifies no one passes: loopback (`127.0.0.1`, `::1`), unspecified
(`0.0.0.0`), link-local (`169.254.0.0/16`, `fe80::/10` unless its interface id is a MAC address,
EUI-64) and a network in CIDR notation (`10.0.0.0/8`). So does a dotted quad that a version
operator or word, or a chapter or section, comes just before (`requests==2.32.3.1`,
`version 1.0.0.1`, `sections 1.1.1.1 through 1.1.1.9`). Documentation ranges (`203.0.113.0/24`)
are redacted: examples stand in for real addresses.

An address may hold letters of any script (RFC 6531: `maría.garcía@correo.es`, `rené@société.fr`),
so it is matched whole rather than from its first ASCII letter on. `user@host:path` (an SSH
remote, `git@github.com:org/repo.git`) is no address."""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from .detector import ALNUM, DIGITS, NO_NUMBER, Detector, before, is_in

LOCAL = ALNUM + b"._%+-"
# Every byte of a non-ASCII character, which may be a letter of an address.
NON_ASCII = bytes(range(0x80, 0x100))
EMAIL_ALPHABET = LOCAL + b"@:" + NON_ASCII  # `:` too: `user@host:path` is no address
LETTER = r"\p{L}\p{M}\p{N}"
HEX = DIGITS + b"abcdefABCDEF"


def _word_char(char: str) -> bool:
    return char.isalnum() or unicodedata.category(char).startswith("M")


def _email(data: bytes, start: int, end: int) -> int | None:
    # The match took every local-part character before the @, so anything address-like before it
    # means the scan began inside a longer token.
    previous = before(data, start)[-1:]
    if previous and (previous in "._%+-@" or _word_char(previous)):
        return None
    following = data[end : end + 4].decode(errors="ignore")[:1]
    if following and (following in "_%+-@" or _word_char(following)):
        return None
    if following == ":" and end + 1 < len(data) and not data[end + 1 : end + 2].isspace():
        return None  # `git@github.com:org/repo.git`: an SSH remote, `user@host:path`
    local, _, domain = data[start:end].partition(b"@")
    labels = domain.split(b".")
    if local.startswith(b".") or local.endswith(b".") or b".." in local:
        return None
    if any(label.startswith(b"-") or label.endswith(b"-") for label in labels):
        return None
    tld = labels[-1].decode()
    return end if len(tld) >= 2 and tld.isalpha() else None


# What makes a dotted quad a version or a section number: a version operator glued to it (not
# `=`, `host=10.0.0.1`, nor an arrow's `>`), or a word before it, and what it ends a list of.
VERSIONED = re.compile(
    r"(?:[=!~<>]=|(?<!-)[<>]"
    r"|(?:\b(?i:v|version|framework|chapter|sections?)|§)[ \t]*[:#]?[ \t]*"
    r"(?:[0-9][0-9.]*[ \t]*(?:,[ \t]*(?:and|or)?|and|or|to|through|-)[ \t]*)*)$"
)


def _private_use(address: ipaddress.IPv4Address | ipaddress.IPv6Address, data: bytes, end: int) -> bool:
    """An address that identifies no one: loopback, unspecified, link-local (an IPv6 one unless
    its interface id is a MAC address), or a network named with its prefix length."""
    if address.is_loopback or address.is_unspecified:
        return True
    if address.is_link_local:
        return address.version == 4 or address.packed[11:13] != b"\xff\xfe"
    prefix = re.match(rb"/([0-9]{1,3})(?![0-9])", data[end : end + 5])
    if prefix is None or int(prefix[1]) >= address.max_prefixlen:
        return False
    try:
        ipaddress.ip_network(f"{address}/{int(prefix[1])}")  # strict: no host bits set
    except ValueError:
        return False
    return True


def _ipv4(data: bytes, start: int, end: int) -> int | None:
    if is_in(data, start - 1, ALNUM + b"_") or (
        is_in(data, start - 1, b".") and is_in(data, start - 2, DIGITS)
    ):
        return None
    if is_in(data, end, ALNUM + b"_") or (is_in(data, end, b".") and is_in(data, end + 1, DIGITS)):
        return None
    try:
        address = ipaddress.IPv4Address(data[start:end].decode())
    except ValueError:
        return None
    if _private_use(address, data, end) or VERSIONED.search(before(data, start)):
        return None
    return end


def _ipv6(data: bytes, start: int, end: int) -> int | None:
    if is_in(data, start - 1, ALNUM + b"_:.") or is_in(data, end, ALNUM + b"_"):
        return None
    # Sentence punctuation after an address is not part of it.
    token = data[start:end].rstrip(b".")
    if token.endswith(b":") and not token.endswith(b"::"):
        token = token[:-1]
    if not any(byte in DIGITS for byte in token):
        return None  # `dead::beef`, `Foo::Bar`: words, not addresses
    try:
        address = ipaddress.IPv6Address(token.decode())
    except ValueError:
        return None
    return None if _private_use(address, data, start + len(token)) else start + len(token)


def address_detectors() -> list[Detector]:
    return [
        Detector(
            "email",
            "email",
            f"[{LETTER}._%+-]+@[{LETTER}-]+(?:\\.[{LETTER}-]+)+",
            max_len=128,
            accept=_email,
            alphabet=EMAIL_ALPHABET,
            shortest_number=NO_NUMBER,  # its @
        ),
        Detector(
            "ip_address",
            "ip_address",
            r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}",
            max_len=15,
            accept=_ipv4,
            alphabet=DIGITS + b"./",  # `/`: a network's prefix length may follow
            shortest_number=7,  # 1.2.3.4
        ),
        Detector(
            "ip_address.v6",
            "ip_address",
            r"[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*",
            max_len=45,
            accept=_ipv6,
            alphabet=HEX + b":./",
            shortest_number=NO_NUMBER,  # its colons
        ),
    ]
