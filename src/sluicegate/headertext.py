"""Header values as aiohttp hands them over, made safe to hash, to store and to send.

A header value is bytes on the wire. aiohttp decodes it as UTF-8 with `surrogateescape`, so bytes
that are not UTF-8 (a Latin-1 `café`, garbage) arrive as lone surrogates, which `str.encode()`,
orjson and the database drivers refuse, and which aiohttp's own writer silently leaves out: it
writes header text as UTF-8 and has no way to write such a byte back. Where a header value is
hashed or stored it goes through `header_bytes` or `header_text`; valid text comes out of both
exactly as plain UTF-8 would. `undecodable_at` tells where a value to be sent on holds such a byte,
and `json_header_problem` words it for a header the gateway reads as JSON (`cf-aig-metadata`).
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


def undecodable_at(value: str) -> int | None:
    """The offset in the bytes received of the first one that is not UTF-8, or None if all are."""
    if value.isascii():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # at the first lone surrogate: bytes before it were UTF-8
        return len(value[: exc.start].encode("utf-8"))
    return None


def json_header_problem(name: str, value: str) -> str | None:
    """Why header `name`, whose value is JSON, cannot be read as UTF-8 text, naming the first byte
    that is not UTF-8 and its offset in the value; None when every byte is. (orjson says only "str
    is not valid UTF-8: surrogates not allowed", at no position a client can find.)"""
    at = undecodable_at(value)
    if at is None:
        return None
    byte = header_bytes(value)[at]
    return (
        f"{name} is not valid JSON at byte {at}: a byte that is not UTF-8 ({byte:02X}); send the"
        " header's JSON as UTF-8, or with its characters outside ASCII as \\u escapes (é as"
        " \\u00e9): Latin-1 text, as Python's http.client sends a str value, is not UTF-8"
    )
