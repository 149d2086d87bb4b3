"""Request header values as aiohttp hands them over, made safe to hash and to store.

A header value is bytes on the wire. aiohttp decodes it as UTF-8 with `surrogateescape`, so bytes
that are not UTF-8 (a Latin-1 `café`, garbage) arrive as lone surrogates, which `str.encode()`,
orjson and the database drivers refuse. Where a header value is hashed or stored it goes
through one of these two functions; valid text comes out of both exactly as plain UTF-8 would.
"""

from __future__ import annotations


def header_bytes(value: str) -> bytes:
    """The bytes the client sent: what tokens and cache keys hash, so distinct bytes stay distinct."""
    return value.encode("utf-8", "surrogateescape")


def header_text(value: str) -> str:
    """`value` as text that can be stored: each byte that is not UTF-8 becomes U+FFFD."""
    if value.isascii():  # most values (a flag check): no lone surrogate can be in them
        return value
    return header_bytes(value).decode("utf-8", "replace")
